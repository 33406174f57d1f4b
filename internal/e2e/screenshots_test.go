package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bgtask/bgtask"
)

// TestDashboardScreenshots writes the screenshots of docs/ (overview, task
// view, phone) from `bgtask serve --demo` with a few demo tasks. It runs
// only when BGTASK_SCREENSHOTS names the directory to write to:
//
//	BGTASK_SCREENSHOTS=$PWD/docs go test -tags testtasks -run TestDashboardScreenshots ./internal/e2e/
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("BGTASK_SCREENSHOTS")
	if dir == "" {
		t.Skip("BGTASK_SCREENSHOTS is not set")
	}
	s := startServer(t, "", "--demo")
	par := s.submit("demo.parallel")
	for _, args := range [][]string{{"demo.decode", "60"}, {"demo.fail"}, {"bytes", "288894"}, {"demo.decode", "400"}, {"demo.slow"}, {"demo.idle-decode", "5000"}, {"demo.decode", "900"}} {
		s.submit(args...)
	}
	slow := s.submit("demo.slow")
	s.waitUntil(slow, "running", func(ti *bgtask.TaskInfo) bool { return ti.Owner != "" })
	s.run("cancel", slow)
	s.waitUntil(par, "partial success", func(ti *bgtask.TaskInfo) bool { return ti.State == bgtask.StateSuccess })
	b := openDashboard(t, s, "")
	waitJS[bool](b, "the overview", `/finished in the last hour/.test(document.getElementById('tp-summary').textContent) && document.querySelectorAll('#names tbody tr').length >= 4`, waitFor)
	time.Sleep(1500 * time.Millisecond) // progress under way
	b.do(chromedp.EmulateViewport(1440, 1000))
	b.screenshot(filepath.Join(dir, "dashboard.png"))
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, par)))
	b.waitDetail(par, "the parallel task", `d.retry && d.log.includes('partial_success')`)
	b.screenshot(filepath.Join(dir, "dashboard-task.png"))
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	waitJS[bool](b, "rows as cards", `bgtaskDashboard.rowHeight() === 96`, waitFor)
	time.Sleep(500 * time.Millisecond)
	b.screenshot(filepath.Join(dir, "dashboard-phone.png"))
}

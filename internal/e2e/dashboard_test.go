package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store/boltstore"
)

// url returns the server's URL for path.
func (s *server) url(path string) string { return "http://" + s.addr + path }

// openDashboard opens the dashboard and waits for its event stream.
func openDashboard(t *testing.T, s *server, query string) *browser {
	t.Helper()
	b := newBrowser(t)
	b.open(s.url("/" + query))
	waitJS[bool](b, "the event stream", `document.querySelector('#conn.live') !== null`, waitFor)
	return b
}

// The dashboard follows tasks live: a task submitted with its form shows
// its progress step by step and ends SUCCESS without a reload; Cancel
// cancels a running task; Retry re-runs the failed subtask of a parallel
// task; the event log, the counts, the detail panel and the server's
// errors are shown.
func TestDashboardLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	b := openDashboard(t, s, "")
	b.do(chromedp.Evaluate[chromedp.Void](`window.__marker = 'no reload'`))

	// Submit through the form.
	waitJS[bool](b, "the definitions", `document.querySelector('#f-name option[value=progress]') !== null`, waitFor)
	b.do(
		chromedp.SetValue(chromedp.ID("f-name"), "progress"),
		chromedp.SetValue(chromedp.ID("f-args"), "5  200"),
		chromedp.Click(chromedp.ID("f-submit")),
	)
	id := waitJS[string](b, "the submitted task's ID", `document.getElementById('f-result').dataset.id`, waitFor)
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`__watch(%q)`, id)))
	r := b.waitRow(id, "SUCCESS", `r.state === 'SUCCESS'`)
	if r.Count != "Task 5 of 5" || r.Message != "step 5 of 5" || r.Attempt != "1" || r.Started == "" || r.Finished == "" || r.Cancel || r.Retry {
		t.Errorf("finished progress row: %+v", r)
	}
	seen := eval[[]string](b, fmt.Sprintf(`__seen[%q]`, id))
	if len(seen) < 3 || seen[len(seen)-1] != "Task 5 of 5" {
		t.Errorf("progress texts the row showed: %q; want it to advance step by step to Task 5 of 5", seen)
	}
	if info := s.status(id); !slices.Equal(info.Args, []string{"5", "200"}) {
		t.Errorf("args sent by the form: %q, want [5 200]", info.Args)
	}

	// Cancel a running task with its button.
	wait := s.submit("wait", "60")
	b.waitRow(wait, "running", `r.state === 'ONGOING' && r.attempt === '1' && r.cancel`)
	b.do(chromedp.Click(rowSelector(wait, "button[data-action=cancel]")))
	if r := b.waitRow(wait, "CANCELLED", `r.state === 'CANCELLED'`); r.Cancel || r.Retry {
		t.Errorf("cancelled row: %+v", r)
	}
	if info := s.status(wait); info.State != bgtask.StateCancelled {
		t.Errorf("the server says the cancelled task is %s", info.State)
	}

	// A parallel task with a failing subtask, then Retry.
	par := s.submit("parallel", "a,b", "b")
	r = b.waitRow(par, "partial success", `r.state === 'SUCCESS' && r.retry`)
	if r.Subs != "1 ok, 1 failed" {
		t.Errorf("subtask summary of a partial success: %q", r.Subs)
	}
	b.do(chromedp.Click(rowSelector(par, "button[data-action=details]")))
	subtasks := waitJS[[][]string](b, "the subtasks in the detail panel", `(() => {
		const rows = [...document.querySelectorAll('#detail-subtasks tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent));
		return rows.length === 2 && rows;
	})()`, waitFor)
	if subtasks[0][0] != "a" || subtasks[0][1] != "SUCCESS" || subtasks[1][0] != "b" || subtasks[1][1] != "FAILURE" || !strings.Contains(subtasks[1][3], "fails on attempt 1") {
		t.Errorf("subtasks in the detail panel: %q", subtasks)
	}
	b.do(chromedp.Click(rowSelector(par, "button[data-action=retry]")))
	r = b.waitRow(par, "retried", `r.state === 'SUCCESS' && r.attempt === '2' && r.subs === '2 ok'`)
	if r.Retry {
		t.Errorf("retry button still shown after a successful retry: %+v", r)
	}
	waitJS[bool](b, "the detail panel to follow the retry", `[...document.querySelectorAll('#detail-subtasks tbody tr')].every((tr) => tr.cells[1].textContent === 'SUCCESS')`, waitFor)

	// The event log.
	kinds := waitJS[[]string](b, "the event log", `(() => {
		const k = [...document.querySelectorAll('#log li')].map((li) => li.dataset.kind);
		return ['started', 'updated', 'done', 'cancelled', 'partial_success'].every((x) => k.includes(x)) && k;
	})()`, waitFor)
	if len(kinds) > 200 {
		t.Errorf("event log holds %d entries, want at most 200", len(kinds))
	}

	// The counts per state, from /v1/stats.
	waitJS[bool](b, "the counts", `(() => {
		const n = (s) => document.querySelector('#counts button[data-state="' + s + '"] .n').textContent;
		return n('SUCCESS') === '2' && n('CANCELLED') === '1' && n('') === '3';
	})()`, waitFor)

	if c := b.consoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}

	// The server's own errors are shown (and logged by the browser).
	b.do(
		chromedp.SetValue(chromedp.ID("f-name"), "success"),
		chromedp.Clear(chromedp.ID("f-args")), // SetValue cannot set ""
		chromedp.SetValue(chromedp.ID("f-key"), strings.Repeat("k", 300)),
		chromedp.Click(chromedp.ID("f-submit")),
	)
	msg := waitJS[string](b, "the server's error", `(() => { const o = document.getElementById('f-result'); return o.classList.contains('error') && o.textContent })()`, waitFor)
	if !strings.Contains(msg, "idempotency key longer than 256 bytes") || !strings.Contains(msg, "bad_request") {
		t.Errorf("error shown for a rejected submission: %q", msg)
	}

	if m := eval[string](b, `window.__marker`); m != "no reload" {
		t.Errorf("the page was reloaded")
	}
}

// prepareTasks stores n `success` tasks in a boltstore data directory, with
// the Go API, before any server opens it.
func prepareTasks(t *testing.T, dir string, n int) {
	t.Helper()
	st, err := boltstore.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "success", Run: func(context.Context, *bgtask.Task) error { return nil }})
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	params := make([]bgtask.SubmitParams, n)
	for i := range params {
		params[i] = bgtask.SubmitParams{Name: "success", Args: []string{fmt.Sprint(i)}}
	}
	if _, err := m.SubmitMany(context.Background(), params); err != nil {
		t.Fatal(err)
	}
}

// pageStats is window.bgtaskDashboard.stats().
type pageStats struct {
	Tasks        int     `json:"tasks"`
	Loaded       int     `json:"loaded"`
	Rows         int     `json:"rows"`
	Log          int     `json:"log"`
	SlowestFrame float64 `json:"slowestFrame"` // ms
	BiggestBatch int     `json:"biggestBatch"`
}

const statsJS = `window.bgtaskDashboard.stats()`

// With 10,000 tasks the page stays responsive: the server runs them all
// while the page is open (20,000 events), the DOM holds only the rows on
// screen, the tasks in memory stay bounded, and a new task's row appears
// within a bound.
func TestDashboardTenThousandTasks(t *testing.T) {
	t.Parallel()
	const n = 10000
	dir := t.TempDir()
	prepareTasks(t, dir, n)
	s := startServer(t, dir)
	b := openDashboard(t, s, "")
	maxTasks := eval[int](b, `window.bgtaskDashboard.MAX_TASKS`)
	b.do(chromedp.Evaluate[chromedp.Void](`window.__longest = 0; new PerformanceObserver((l) => {
		for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
	}).observe({ type: 'longtask' })`))

	// While the server drains the queue: the main thread answers, and a
	// task submitted with the form shows at once.
	var slowest time.Duration
	for range 10 {
		start := time.Now()
		eval[int](b, `1`)
		slowest = max(slowest, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	b.do(
		chromedp.SetValue(chromedp.ID("f-name"), "success"),
		chromedp.SetValue(chromedp.ID("f-args"), "during the drain"),
	)
	start := time.Now()
	b.do(chromedp.Click(chromedp.ID("f-submit")))
	id := waitJS[string](b, "the submitted task's ID", `document.getElementById('f-result').dataset.id`, waitFor)
	answered := time.Since(start)
	b.waitRow(id, "shown", `true`)
	shown := time.Since(start)
	st := eval[pageStats](b, statsJS)
	t.Logf("during the drain: slowest evaluation %v; form submission answered after %v, its row shown after %v; page %+v", slowest, answered, shown, st)
	if slowest > 2*time.Second || shown-answered > 2*time.Second || shown > 10*time.Second {
		t.Errorf("page not responsive during the drain: slowest evaluation %v (want < 2s), row shown %v after the answer (want < 2s), %v after the click (want < 10s)",
			slowest, shown-answered, shown)
	}

	// All done: every count reaches the page.
	waitJS[bool](b, "the counts after the drain", fmt.Sprintf(`document.querySelector('#counts button[data-state="SUCCESS"] .n').textContent === '%d'`, n+1), waitFor)

	longest := eval[float64](b, `window.__longest`)
	st = eval[pageStats](b, statsJS)
	t.Logf("the drain's 20,000 events: longest task on the page's main thread %.0f ms, slowest frame %.1f ms, biggest batch %d",
		longest, st.SlowestFrame, st.BiggestBatch)

	// Load pages until the memory limit.
	pages := 0
	for i := 0; ; i++ {
		more := waitJS[string](b, "the Load more button", `(() => { const m = document.getElementById('more'); return !m.disabled || /limit|All/.test(m.textContent) ? m.textContent : null })()`, waitFor)
		if strings.Contains(more, "limit") || strings.Contains(more, "All") {
			break
		}
		if i > 20 {
			t.Fatalf("still %q after %d pages", more, i)
		}
		b.do(chromedp.Click(chromedp.ID("more")))
		pages++
		waitJS[bool](b, "a page", `document.getElementById('more').disabled === false || /limit|All/.test(document.getElementById('more').textContent)`, waitFor)
	}
	st = eval[pageStats](b, statsJS)
	t.Logf("after %d more pages: page %+v", pages, st)
	if st.Tasks < maxTasks-1000 || st.Tasks > maxTasks || st.Rows == 0 || st.Rows >= 500 {
		t.Errorf("after loading every page: %+v; want about MAX_TASKS=%d tasks in memory and fewer than 500 rows in the DOM", st, maxTasks)
	}
	rowsInDOM := eval[int](b, `document.querySelectorAll('#rows .row').length`)
	if rowsInDOM != st.Rows || rowsInDOM >= 500 {
		t.Errorf("%d task rows in the DOM, want fewer than 500", rowsInDOM)
	}
	height := eval[int](b, `parseInt(document.getElementById('rows').style.height)`)
	if height != st.Loaded*eval[int](b, `window.bgtaskDashboard.ROW_HEIGHT`) {
		t.Errorf("list height %dpx for %d tasks", height, st.Loaded)
	}

	// Scroll to the bottom: the oldest loaded tasks are drawn, and only they.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('scroller').scrollTop = 1e9`))
	bottom := waitJS[[]string](b, "the bottom rows", `(() => {
		const rows = [...document.querySelectorAll('#rows .row')];
		const last = rows.map((r) => r.getAttribute('aria-rowindex') | 0).reduce((a, b) => Math.max(a, b), 0);
		return last === window.bgtaskDashboard.stats().loaded + 1 && rows.map((r) => r.querySelector('.args').textContent);
	})()`, waitFor)
	if len(bottom) >= 500 || len(bottom) == 0 {
		t.Errorf("%d rows drawn at the bottom", len(bottom))
	}

	// A task submitted elsewhere appears (at the top) within a bound, and
	// memory stays bounded.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('scroller').scrollTop = 0`))
	start = time.Now()
	id = s.submit("success", "after the drain")
	b.waitRow(id, "shown", `r.state === 'SUCCESS'`)
	shown = time.Since(start)
	st = eval[pageStats](b, statsJS)
	t.Logf("after the drain: submit to SUCCESS row %v, page %+v", shown, st)
	if shown > 10*time.Second {
		t.Errorf("a new task's row took %v to appear, want < 10s", shown)
	}
	if st.Tasks > maxTasks {
		t.Errorf("%d tasks in memory, want at most MAX_TASKS=%d", st.Tasks, maxTasks)
	}
	if c := b.consoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}
}

// With a token: the page opened with ?access_token= works; without it
// the server refuses the page; and when the server's token changes under
// an open page, the page says why it stopped.
func TestDashboardToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--token", "s3cret")
	b := newBrowser(t)

	b.do(chromedp.Navigate(s.url("/")))
	if body := eval[string](b, `document.body.textContent`); !strings.Contains(body, `"code":"unauthorized"`) {
		t.Errorf("page without the token shows %q, want the server's 401 error", body)
	}

	b.open(s.url("/?access_token=s3cret"))
	waitJS[bool](b, "the event stream", `document.querySelector('#conn.live') !== null`, waitFor)
	code, out, errOut := s.run("submit", "--token", "s3cret", "progress", "2", "50")
	if code != 0 {
		t.Fatalf("submit: exit %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	b.waitRow(id, "SUCCESS", `r.state === 'SUCCESS' && r.count === 'Task 2 of 2'`)
	if hidden := eval[bool](b, `document.getElementById('auth').hidden`); !hidden {
		t.Errorf("unauthorized banner shown with the right token")
	}

	// The server restarts on the same address with another token.
	s.term()
	startServer(t, s.dir, "--token", "rotated", "--listen", s.addr)
	msg := waitJS[string](b, "the 401 message", `(() => { const a = document.getElementById('auth'); return !a.hidden && a.textContent })()`, waitFor)
	if !strings.Contains(msg, "Unauthorized (401)") || !strings.Contains(msg, "access_token") {
		t.Errorf("401 message: %q", msg)
	}
	if conn := eval[string](b, `document.getElementById('conn').textContent`); conn != "unauthorized" {
		t.Errorf("connection indicator after a 401: %q", conn)
	}
}

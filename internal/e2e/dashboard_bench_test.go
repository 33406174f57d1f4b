package e2e_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// loadStats is what the page measured over one window of
// BenchmarkDashboardLoad.
type loadStats struct {
	Events        int     `json:"events"`        // events the page received
	Seconds       float64 `json:"seconds"`       // the window
	LongTasks     int     `json:"longTasks"`     // main-thread tasks over 50 ms
	LongTaskMS    float64 `json:"longTaskMs"`    // their total duration
	LongestTaskMS float64 `json:"longestTaskMs"` // the longest
	Frames        int     `json:"frames"`
	FrameP50      float64 `json:"frameP50"` // ms between frames
	FrameP95      float64 `json:"frameP95"`
	FrameP99      float64 `json:"frameP99"`
	FrameMax      float64 `json:"frameMax"`
	FlushMax      float64 `json:"flushMax"` // ms, the longest batch the page applied
}

// measureJS starts measuring; collectJS ends and returns loadStats.
const measureJS = `(() => {
  const m = window.__m = { long: [], frames: [], t0: performance.now(), ev0: bgtaskDashboard.stats().events, run: true };
  m.obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) m.long.push(e.duration); });
  m.obs.observe({ type: 'longtask' });
  let last = performance.now();
  const sc = document.getElementById('scroller');
  const frame = (now) => {
    if (!m.run) return;
    m.frames.push(now - last);
    last = now;
    sc.scrollTop = (sc.scrollTop + 4) % Math.max(1, sc.scrollHeight - sc.clientHeight); // a user scrolling
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})()`

const collectJS = `(() => {
  const m = window.__m;
  m.run = false;
  m.obs.disconnect();
  const f = m.frames.slice(1).sort((a, b) => a - b);
  const q = (p) => f.length ? f[Math.min(f.length - 1, Math.floor(p * f.length))] : 0;
  const s = bgtaskDashboard.stats();
  return { events: s.events - m.ev0, seconds: (performance.now() - m.t0) / 1000,
    longTasks: m.long.length, longTaskMs: m.long.reduce((a, b) => a + b, 0), longestTaskMs: Math.max(0, ...m.long),
    frames: f.length, frameP50: q(0.5), frameP95: q(0.95), frameP99: q(0.99), frameMax: f.length ? f[f.length - 1] : 0,
    flushMax: s.slowestFrame };
})()`

// BenchmarkDashboardLoad measures the page's main thread with 10,000 tasks
// stored (the newest 5,000, MAX_TASKS, loaded into the page) while 100
// tasks report progress, about 1,000 events per second, and the list
// scrolls by 4 px a frame: main-thread long tasks (over 50 ms) and the
// times between frames, over a 10 s window per iteration, after a baseline
// window with the same scrolling and no events (base-* metrics). Run it
// alone:
//
//	go test -tags testtasks -run '^$' -bench BenchmarkDashboardLoad -benchtime 1x ./internal/e2e/
func BenchmarkDashboardLoad(b *testing.B) {
	const (
		stored  = 10000
		running = 100
		window  = 10 * time.Second
	)
	dir := b.TempDir()
	prepareTasks(b, dir, stored)
	s := startServer(b, dir)
	br := openDashboard(b, s, "")
	waitJS[bool](br, "the stored tasks to finish", fmt.Sprintf(`document.querySelector('#counts button[data-state="SUCCESS"] .n').textContent === '%s'`, fmtThousands(stored)), waitFor)
	for i := 0; ; i++ {
		more := waitJS[string](br, "the Load more button", `(() => { const m = document.getElementById('more'); return !m.disabled || /limit|All/.test(m.textContent) ? m.textContent : null })()`, waitFor)
		if i > 20 || more != "Load 1000 more" {
			break
		}
		br.do(chromedp.Click(chromedp.ID("more")))
	}
	// A baseline window: the same page and scrolling, no events. The
	// difference is what the events cost; the baseline shows how busy
	// the machine was.
	br.do(chromedp.Evaluate[chromedp.Void](measureJS))
	time.Sleep(window)
	base := eval[loadStats](br, collectJS)
	ids := make([]string, running)
	for i := range ids {
		ids[i] = s.submit("progress", "100000", "10") // 100 steps/s, coalesced to ~10 events/s
	}
	b.Cleanup(func() {
		for _, id := range ids {
			s.run("cancel", id)
		}
	})
	time.Sleep(2 * time.Second) // all running
	var st loadStats
	b.ResetTimer()
	for range b.N {
		br.do(chromedp.Evaluate[chromedp.Void](measureJS))
		time.Sleep(window)
		st = eval[loadStats](br, collectJS)
	}
	b.StopTimer()
	b.ReportMetric(float64(st.Events)/st.Seconds, "events/s")
	b.ReportMetric(float64(st.LongTasks), "longtasks")
	b.ReportMetric(st.LongTaskMS, "longtask-ms")
	b.ReportMetric(st.LongestTaskMS, "longest-ms")
	b.ReportMetric(st.FrameP50, "frame-p50-ms")
	b.ReportMetric(st.FrameP95, "frame-p95-ms")
	b.ReportMetric(st.FrameP99, "frame-p99-ms")
	b.ReportMetric(st.FrameMax, "frame-max-ms")
	b.ReportMetric(st.FlushMax, "flush-max-ms")
	b.ReportMetric(float64(base.LongTasks), "base-longtasks")
	b.ReportMetric(base.FrameP50, "base-frame-p50-ms")
	b.ReportMetric(base.FrameP95, "base-frame-p95-ms")
	load, _ := os.ReadFile("/proc/loadavg") // how busy the machine was: the browser shares it
	b.Logf("with events %+v; baseline %+v; page %+v; load average %s", st, base, eval[pageStats](br, statsJS), strings.TrimSpace(string(load)))
}

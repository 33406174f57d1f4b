package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which scripts/test installs.
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium with one tab, driven over the DevTools
// protocol. Its console errors and uncaught exceptions are recorded.
type browser struct {
	t   testing.TB
	ctx context.Context // the tab; no deadline (it bounds the browser's life)

	mu      sync.Mutex
	console []string // console errors and exceptions
}

// newBrowser starts Chromium for the test and stops it at cleanup. Without
// Chromium the test fails, unless BGTASK_SKIP_BROWSER=1 says to skip.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("BGTASK_SKIP_BROWSER") == "1" {
			t.Skipf("BGTASK_SKIP_BROWSER=1 and no %s", chromiumPath)
		}
		t.Fatalf("the dashboard tests need Debian's chromium at %s (scripts/test installs it: apt-get install chromium); "+
			"set BGTASK_SKIP_BROWSER=1 to skip them: %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no first run, no background networking, no /dev/shm, no sync
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot(filepath.Join(t.ArtifactDir(), "dashboard.png"))
		}
		cancelTab()
		cancelAlloc()
		<-done
	})
	start, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	go func() {
		<-start.Done()
		if start.Err() == context.DeadlineExceeded {
			cancelAlloc() // Chromium did not start in time
		}
	}()
	if err := chromedp.Do(ctx); err != nil { // starts Chromium
		close(done)
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.console = append(b.console, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs actions, bounded by waitFor.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v%s", err, b.consoleText())
	}
}

// eval evaluates a JavaScript expression, bounded by waitFor.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v%s", expr, err, b.consoleText())
	}
	return v
}

// waitJS waits (at most d) until the expression is truthy in the page, and
// returns its value.
func waitJS[T any](b *browser, what, expr string, d time.Duration) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		b.t.Fatalf("waiting %v for %s: %v%s", d, what, err, b.consoleText())
	}
	return v
}

// open loads the page and installs the test's helpers in it.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do(chromedp.Navigate(url))
	b.do(chromedp.Evaluate[chromedp.Void](rowHelpers))
}

// consoleErrors returns the console errors and exceptions so far.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.console...)
}

func (b *browser) consoleText() string {
	if c := b.consoleErrors(); len(c) > 0 {
		return "\nconsole:\n" + strings.Join(c, "\n")
	}
	return ""
}

func (b *browser) screenshot(path string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the page: %s", path)
}

// rowHelpers are installed in the page by open: __row(id) reads a task's
// row, __watch(id) records every progress text its row shows.
const rowHelpers = `(() => {
  window.__row = (id) => {
    const r = document.querySelector('#rows .row[data-id="' + id + '"]');
    if (!r) return null;
    const q = (s) => r.querySelector(s).textContent;
    return { state: r.classList[2], badge: q('.badge'), id: q('.id'), name: q('.name'), count: q('.pcount'), message: q('.pmsg'),
      attempt: q('.c-attempt'), subs: q('.subs'), error: q('.c-error'), finished: q('.c-finished') };
  };
  window.__seen = {};
  window.__watch = (id) => {
    const seen = window.__seen[id] = [];
    const note = () => {
      const r = window.__row(id);
      if (r && seen[seen.length - 1] !== r.count) seen.push(r.count);
    };
    new MutationObserver(note).observe(document.getElementById('rows'), { subtree: true, childList: true, characterData: true });
    note();
  };
})()`

// row is what __row returns.
type row struct {
	State    string `json:"state"` // the record's state (ONGOING, ...)
	Badge    string `json:"badge"` // what the badge says (QUEUED, RUNNING, SUCCESS, ...)
	ID       string `json:"id"`
	Name     string `json:"name"`
	Count    string `json:"count"`
	Message  string `json:"message"`
	Attempt  string `json:"attempt"`
	Subs     string `json:"subs"`
	Error    string `json:"error"`
	Finished string `json:"finished"`
}

// waitRow waits until the task's row is on the page and cond (a
// JavaScript condition on r, the row) holds.
func (b *browser) waitRow(id, what, cond string) row {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => { const r = __row(%q); return r && (%s) ? r : null })()`, id, cond)
	return waitJS[row](b, fmt.Sprintf("task %s: %s", id, what), expr, waitFor)
}

func rowSelector(id, rest string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`#rows .row[data-id=%q] %s`, id, rest))
}

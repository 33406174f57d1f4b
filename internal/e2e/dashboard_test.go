package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store/boltstore"
)

// url returns the server's URL for path.
func (s *server) url(path string) string { return "http://" + s.addr + path }

// openDashboard opens the dashboard and waits for its event stream.
func openDashboard(t testing.TB, s *server, query string) *browser {
	t.Helper()
	b := newBrowser(t)
	b.open(s.url("/" + query))
	waitJS[bool](b, "the event stream", `document.querySelector('#conn.live') !== null`, waitFor)
	return b
}

// detailInfo is what detailJS reads from the task view.
type detailInfo struct {
	Visible  bool              `json:"visible"`
	Title    string            `json:"title"`
	Badge    string            `json:"badge"`
	Status   string            `json:"status"`
	Progress string            `json:"progress"`
	Fields   map[string]string `json:"fields"`
	Times    map[string]string `json:"times"`
	Zone     string            `json:"zone"`
	Args     []string          `json:"args"`
	Subtasks [][]string        `json:"subtasks"`
	Log      []string          `json:"log"` // event kinds, oldest first
	Cancel   bool              `json:"cancel"`
	Retry    bool              `json:"retry"`
}

const detailJS = `(() => {
  const $ = (id) => document.getElementById(id);
  const dl = (id) => Object.fromEntries([...$(id).querySelectorAll('dt')].map((dt) => [dt.textContent, dt.nextElementSibling.textContent]));
  return {
    visible: !$('view-task').hidden, title: $('d-title').textContent, badge: $('d-badge').textContent,
    status: $('d-status').textContent, progress: $('d-plabel').textContent,
    fields: dl('d-fields'), times: dl('d-times'), zone: $('d-zone').textContent,
    args: [...$('d-args').querySelectorAll('code')].map((c) => c.textContent),
    subtasks: [...$('d-subtasks').tBodies[0].rows].map((tr) => [...tr.cells].map((c) => c.textContent)),
    log: [...$('d-log').children].map((li) => li.dataset.kind),
    cancel: !$('d-cancel').hidden, retry: !$('d-retry').hidden,
  };
})()`

// waitDetail waits until the task view shows id and cond (on d) holds.
func (b *browser) waitDetail(id, what, cond string) detailInfo {
	b.t.Helper()
	expr := fmt.Sprintf(`(() => { const d = %s; return location.hash === '#/task/%s' && d.visible && d.title.includes(%q) && (%s) ? d : null })()`, detailJS, id, id, cond)
	return waitJS[detailInfo](b, fmt.Sprintf("the view of task %s: %s", id, what), expr, waitFor)
}

// listed returns the IDs of the rows drawn, top to bottom, once cond
// (on ids) holds.
func (b *browser) listed(what, cond string) []string {
	b.t.Helper()
	return waitJS[[]string](b, what, fmt.Sprintf(`(() => {
		const ids = [...document.querySelectorAll('#rows .row')].sort((a, b) => (a.getAttribute('aria-rowindex') | 0) - (b.getAttribute('aria-rowindex') | 0)).map((r) => r.dataset.id);
		return !document.getElementById('view-list').hidden && (%s) ? ids : null;
	})()`, cond), waitFor)
}

// choose picks a value in a select as a user does (a change event).
func (b *browser) choose(id, value string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.getElementById(%q); s.value = %q; s.dispatchEvent(new Event('change', { bubbles: true })); })()`, id, value)))
}

var fullTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$`)

// The dashboard follows tasks live and every task has a view of its own:
// a task submitted with the form shows its progress step by step; its ID
// opens its view (arguments, timings with dates and zone, attempts, its
// own event log) and the back button returns to the list; Cancel asks
// for a confirmation first; Retry re-runs the failed subtask of a
// parallel task.
func TestDashboardLive(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	b := openDashboard(t, s, "")
	b.do(chromedp.Evaluate[chromedp.Void](`window.__marker = 'no reload'`))

	// Submit through the form. The test paces the task's steps (stepped:
	// step N once DIR/step-N exists), so that the row is seen at each.
	steps := t.TempDir()
	waitJS[bool](b, "the definitions", `document.querySelector('#f-name option[value=stepped]') !== null`, waitFor)
	b.do(
		chromedp.Click(chromedp.CSS("#submit-box summary")),
		chromedp.SetValue(chromedp.ID("f-name"), "stepped"),
		chromedp.SetValue(chromedp.ID("f-args"), steps+"  5"),
		chromedp.Click(chromedp.ID("f-submit")),
	)
	id := waitJS[string](b, "the submitted task's ID", `document.getElementById('f-result').dataset.id`, waitFor)
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`__watch(%q)`, id)))
	for i := 1; i <= 5; i++ {
		if err := os.WriteFile(filepath.Join(steps, fmt.Sprintf("step-%d", i)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		b.waitRow(id, fmt.Sprintf("step %d", i), fmt.Sprintf(`r.count === 'Task %d of 5'`, i))
	}
	r := b.waitRow(id, "SUCCESS", `r.state === 'SUCCESS'`)
	if r.Count != "Task 5 of 5" || r.Message != "step 5 of 5" || r.Attempt != "1" || r.ID != id || r.Badge != "SUCCESS" || r.Finished == "" {
		t.Errorf("finished progress row: %+v", r)
	}
	seen := eval[[]string](b, fmt.Sprintf(`__seen[%q]`, id))
	if want := []string{"Task 1 of 5", "Task 2 of 5", "Task 3 of 5", "Task 4 of 5", "Task 5 of 5"}; !slices.Equal(seen[len(seen)-min(5, len(seen)):], want) {
		t.Errorf("progress texts the row showed: %q; want it to advance step by step to Task 5 of 5", seen)
	}
	if info := s.status(id); !slices.Equal(info.Args, []string{steps, "5"}) {
		t.Errorf("args sent by the form: %q, want [%s 5]", info.Args, steps)
	}

	// Its ID opens its own view.
	b.do(chromedp.Click(rowSelector(id, "a.id")))
	d := b.waitDetail(id, "the finished task with its log", `d.log.includes('done')`)
	if d.Badge != "SUCCESS" || d.Progress != "Task 5 of 5 · step 5 of 5" || !slices.Equal(d.Args, []string{steps, "5"}) ||
		d.Fields["Attempt"] != "1 of 1" || d.Fields["ID"] != id || d.Cancel || d.Retry {
		t.Errorf("view of a finished task: %+v", d)
	}
	for _, k := range []string{"Created", "Started", "Finished"} {
		if !fullTime.MatchString(d.Times[k]) {
			t.Errorf("%s time %q: want the date and the time to the millisecond", k, d.Times[k])
		}
	}
	if !strings.Contains(d.Zone, "UTC") {
		t.Errorf("time zone shown: %q", d.Zone)
	}
	if len(d.Log) < 3 || d.Log[0] != "started" || d.Log[len(d.Log)-1] != "done" || !slices.Contains(d.Log, "updated") {
		t.Errorf("the task's own log: %q; want started, updates, done", d.Log)
	}
	// The back button returns to the list.
	b.do(chromedp.NavigateBack())
	b.listed("the list again", fmt.Sprintf(`ids.includes(%q) && location.hash === ''`, id))

	// Cancel asks first; "Keep it running" keeps it running.
	wait := s.submit("wait", "60")
	s.waitUntil(wait, "running", func(ti *bgtask.TaskInfo) bool { return ti.Owner != "" })
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, wait)))
	b.waitDetail(wait, "running, with Cancel", `d.badge === 'RUNNING' && d.cancel`)
	b.do(chromedp.Click(chromedp.ID("d-cancel")))
	focus := waitJS[string](b, "the confirmation", `document.getElementById('confirm').open && document.activeElement.id`, waitFor)
	if focus != "confirm-no" {
		t.Errorf("focus in the confirmation on %q, want the safe choice (confirm-no)", focus)
	}
	b.do(chromedp.Click(chromedp.ID("confirm-no")))
	waitJS[bool](b, "the confirmation to close", `!document.getElementById('confirm').open`, waitFor)
	if info := s.status(wait); info.State != bgtask.StateOngoing || info.CancelRequested {
		t.Fatalf("the task was cancelled without confirmation: %+v", info)
	}
	b.do(chromedp.Click(chromedp.ID("d-cancel")))
	waitJS[bool](b, "the confirmation", `document.getElementById('confirm').open`, waitFor)
	b.do(chromedp.Click(chromedp.ID("confirm-yes")))
	if d := b.waitDetail(wait, "CANCELLED", `d.badge === 'CANCELLED'`); d.Cancel || d.Retry {
		t.Errorf("view of a cancelled task: %+v", d)
	}
	if info := s.status(wait); info.State != bgtask.StateCancelled {
		t.Errorf("the server says the cancelled task is %s", info.State)
	}
	// Submit again: a new task with the same name and arguments, shown.
	b.do(chromedp.Click(chromedp.ID("d-again")))
	again := waitJS[string](b, "the task submitted again", fmt.Sprintf(`(() => { const h = location.hash; return h.startsWith('#/task/') && h !== '#/task/%s' && h.slice(7) })()`, wait), waitFor)
	if d := b.waitDetail(again, "the new task", `d.args.length === 1`); d.Fields["Task"] != "wait" || d.Args[0] != "60" {
		t.Errorf("task submitted again: %+v", d)
	}
	s.run("cancel", again)

	// A parallel task with a failing subtask, then Retry.
	par := s.submit("parallel", "a,b", "b")
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, par)))
	d = b.waitDetail(par, "partial success", `d.retry && d.subtasks.length === 2`)
	if d.Subtasks[0][0] != "a" || d.Subtasks[0][1] != "SUCCESS" || d.Subtasks[1][0] != "b" || d.Subtasks[1][1] != "FAILURE" || !strings.Contains(d.Subtasks[1][3], "fails on attempt 1") {
		t.Errorf("subtasks of a partial success: %q", d.Subtasks)
	}
	if d.Status != "1 ok, 1 failed" {
		t.Errorf("status of a partial success: %q", d.Status)
	}
	b.do(chromedp.Click(chromedp.ID("d-retry")))
	d = b.waitDetail(par, "retried", `d.badge === 'SUCCESS' && d.fields['Attempt'].startsWith('2') && d.subtasks.every((s) => s[1] === 'SUCCESS') && d.log.filter((k) => k === 'started').length === 2`)
	if d.Retry {
		t.Errorf("retry still offered after a successful retry: %+v", d)
	}

	// The counts per state, from /v1/stats.
	waitJS[bool](b, "the counts", `(() => {
		const n = (s) => document.querySelector('#counts button[data-state="' + s + '"] .n').textContent;
		return n('SUCCESS') === '2' && n('CANCELLED') === '2' && n('') === '4';
	})()`, waitFor)

	if c := b.consoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}

	// The server's own errors are shown.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
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

// Search by ID prefix and filters by name and state, applied by the server
// and kept in the address (back button, deep links); counts per name and
// the throughput chart; a deep link to a task, and to one that does not
// exist.
func TestDashboardSearchAndFilters(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	ok1, ok2, bad, prog := s.submit("success"), s.submit("success"), s.submit("failure"), s.submit("progress", "3", "20")
	for _, id := range []string{ok1, ok2, prog} {
		s.waitState(id, bgtask.StateSuccess)
	}
	s.waitState(bad, bgtask.StateFailure)
	b := openDashboard(t, s, "")
	b.listed("every task", `ids.length === 4`)

	// The arrows move between the rows' links.
	b.do(chromedp.Focus(rowSelector(prog, "a.id")), chromedp.KeyEvent(kb.ArrowDown))
	if f := eval[string](b, `document.activeElement.closest('.row')?.dataset.id || ''`); f != bad {
		t.Errorf("ArrowDown from the newest task's link focused %q, want the next task %s", f, bad)
	}
	b.do(chromedp.KeyEvent(kb.ArrowUp))
	if f := eval[string](b, `document.activeElement.closest('.row')?.dataset.id || ''`); f != prog {
		t.Errorf("ArrowUp came back to %q, want %s", f, prog)
	}

	// "/" focuses the search; an ID prefix finds the one task.
	b.do(chromedp.KeyEvent("/"))
	if f := eval[string](b, `document.activeElement.id`); f != "q-id" {
		t.Errorf(`"/" focused %q, want the ID search`, f)
	}
	prefix := ok2[:24]
	// (The DevTools protocol types the "/" although the page cancelled
	// its keydown, as a browser would not: empty the field first.)
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('q-id').value = ''`), chromedp.SendKeys(chromedp.ID("q-id"), prefix))
	// The address follows the search once typing pauses.
	if ids := b.listed("the search by ID, in the address", fmt.Sprintf(`ids.length === 1 && location.hash === '#/?id=%s'`, prefix)); ids[0] != ok2 {
		t.Errorf("search for %s… lists %q, want %s", prefix, ids, ok2)
	}
	b.do(chromedp.Click(chromedp.ID("q-clear")))
	b.listed("every task after Clear", `ids.length === 4`)

	// Filter by name, then by state too (the header's count), then back.
	waitJS[bool](b, "the names in the filter", `document.querySelector('#q-name option[value=success]') !== null`, waitFor)
	b.choose("q-name", "success")
	ids := b.listed("the tasks named success", `ids.length === 2`)
	if !slices.Contains(ids, ok1) || !slices.Contains(ids, ok2) {
		t.Errorf("name filter lists %q", ids)
	}
	b.do(chromedp.Click(chromedp.CSS(`#counts button[data-state="FAILURE"]`)))
	b.listed("no failed success", `ids.length === 0 && location.hash === '#/?state=FAILURE&name=success'`)
	b.choose("q-name", "")
	if ids := b.listed("the failed tasks", `ids.length === 1`); ids[0] != bad {
		t.Errorf("state filter lists %q, want %s", ids, bad)
	}
	b.do(chromedp.NavigateBack())
	b.listed("back to failed success", `ids.length === 0 && location.hash === '#/?state=FAILURE&name=success'`)
	b.do(chromedp.NavigateBack())
	b.listed("back to the name filter", `ids.length === 2 && location.hash === '#/?name=success'`)
	if v := eval[string](b, `document.getElementById('q-name').value`); v != "success" {
		t.Errorf("name filter shows %q after going back", v)
	}

	// Counts per name, and the throughput of the last hour.
	counts := waitJS[[]string](b, "the counts by name", `(() => {
		const tr = [...document.querySelectorAll('#names tbody tr')].find((tr) => tr.cells[0].textContent === 'success');
		return tr && [...tr.cells].map((c) => c.textContent);
	})()`, waitFor)
	if !slices.Equal(counts, []string{"success", "0", "2", "0", "0"}) {
		t.Errorf("counts of success by state: %q", counts)
	}
	chart := waitJS[string](b, "the throughput chart", `(() => { const c = document.getElementById('tp-summary').textContent; return /^4 finished/.test(c) && c })()`, waitFor)
	if !strings.Contains(chart, "3 success, 1 failure, 0 cancelled") {
		t.Errorf("throughput summary: %q", chart)
	}
	if bars := eval[int](b, `document.querySelectorAll('#tp-svg rect.b-SUCCESS').length`); bars < 1 {
		t.Errorf("no success bar in the chart")
	}

	// Deep links, in a fresh page: a filtered list, a task, a missing task.
	b.open(s.url("/#/?name=failure"))
	if ids := b.listed("the deep-linked filter", `ids.length === 1`); ids[0] != bad {
		t.Errorf("#/?name=failure lists %q", ids)
	}
	b.open(s.url("/#/task/" + prog))
	if d := b.waitDetail(prog, "deep link", `d.progress !== ''`); d.Progress != "Task 3 of 3 · step 3 of 3" || d.Badge != "SUCCESS" {
		t.Errorf("deep-linked task: %+v", d)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/task/no-such-task'`))
	missing := waitJS[string](b, "the missing task", `(() => { const m = document.getElementById('d-missing'); return !m.hidden && m.textContent })()`, waitFor)
	if !strings.Contains(missing, "No task with ID no-such-task") {
		t.Errorf("missing task: %q", missing)
	}
	if c := b.consoleErrors(); len(c) > 0 && !onlyNotFound(c) {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}
}

// onlyNotFound reports whether the console errors are the browser's own
// notes of 404 answers (the missing task).
func onlyNotFound(c []string) bool {
	for _, m := range c {
		if !strings.Contains(m, "404") {
			return false
		}
	}
	return true
}

// With a token: the page opened without it asks for it (no raw JSON),
// refuses a wrong one, works with the right one; ?access_token= works and
// leaves the address; when the server's token changes under an open page,
// the page asks again.
func TestDashboardToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, "", "--token", "s3cret")
	b := newBrowser(t)
	b.open(s.url("/"))
	waitJS[bool](b, "the sign-in form", `!document.getElementById('view-login').hidden && document.activeElement.id === 'login-token'`, waitFor)
	if body := eval[string](b, `document.body.innerText`); strings.Contains(body, `"code"`) || strings.Contains(body, "unauthorized\"") {
		t.Errorf("page without the token shows raw JSON: %q", body)
	}
	b.do(chromedp.SendKeys(chromedp.ID("login-token"), "wrong"), chromedp.Click(chromedp.ID("login-submit")))
	msg := waitJS[string](b, "the refusal", `document.getElementById('login-error').textContent`, waitFor)
	if !strings.Contains(msg, "Wrong token") {
		t.Errorf("wrong token: %q", msg)
	}
	b.do(chromedp.SetValue(chromedp.ID("login-token"), "s3cret"), chromedp.Click(chromedp.ID("login-submit")))
	waitJS[bool](b, "the list after signing in", `!document.getElementById('view-list').hidden && document.querySelector('#conn.live') !== null`, waitFor)
	code, out, errOut := s.run("submit", "--token", "s3cret", "progress", "2", "50")
	if code != 0 {
		t.Fatalf("submit: exit %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	b.open(s.url("/?access_token=s3cret#/task/" + id))
	b.waitDetail(id, "SUCCESS, with the token from the address", `d.badge === 'SUCCESS' && d.progress.startsWith('Task 2 of 2')`)
	if href := eval[string](b, `location.href`); strings.Contains(href, "s3cret") {
		t.Errorf("the token stays in the address: %s", href)
	}

	// The server restarts on the same address with another token.
	s.term()
	startServer(t, s.dir, "--token", "rotated", "--listen", s.addr)
	msg = waitJS[string](b, "the 401 message", `(() => { const a = document.getElementById('auth'); return !a.hidden && !document.getElementById('view-login').hidden && a.textContent })()`, waitFor)
	if !strings.Contains(msg, "Unauthorized (401)") {
		t.Errorf("401 message: %q", msg)
	}
	b.do(chromedp.SendKeys(chromedp.ID("login-token"), "rotated"), chromedp.Click(chromedp.ID("login-submit")))
	waitJS[bool](b, "the page with the new token", `!document.getElementById('view-task').hidden && document.querySelector('#conn.live') !== null`, waitFor)
}

// axeVersion is the pinned axe-core that scripts/fetch-axe fetches.
const axeVersion = "4.10.3"

// axeSource returns axe-core's script, fetched by scripts/fetch-axe.
func axeSource(t testing.TB) string {
	t.Helper()
	path := filepath.Join("testdata", "axe-core-"+axeVersion+".min.js")
	if _, err := os.Stat(path); err != nil {
		out, err := exec.Command("bash", "../../scripts/fetch-axe").CombinedOutput()
		if err != nil {
			t.Fatalf("fetching axe-core %s with scripts/fetch-axe (needs npm): %v\n%s", axeVersion, err, out)
		}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(src)
}

// axeCheck runs axe-core on the page as it is and fails the test on any
// serious or critical violation.
func (b *browser) axeCheck(src, where string) {
	b.t.Helper()
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		b.do(chromedp.Evaluate[chromedp.Void](src))
	}
	ctx, cancel := context.WithTimeout(b.ctx, waitFor)
	defer cancel()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => v.impact + ' ' + v.id + ': ' + v.help + ' (' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ') + ')'))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", where, err)
	}
	if len(found) > 0 {
		b.t.Errorf("accessibility violations (serious or critical) on %s:\n%s", where, strings.Join(found, "\n"))
	}
}

// The page is usable at phone width (no sideways scrolling, rows as
// cards, the task view in one column), passes axe-core with no serious
// or critical violation in each view, and words progress as its task
// says (steps, bytes, a percentage; queued and idle tasks say so).
func TestDashboardPhoneAndAccessibility(t *testing.T) {
	t.Parallel()
	s := startServer(t, "")
	prog, byteTask, par := s.submit("progress", "3", "20"), s.submit("bytes", "288894"), s.submit("parallel", "a,b,c", "b")
	wait := s.submit("wait", "60")
	for _, id := range []string{prog, byteTask} {
		s.waitState(id, bgtask.StateSuccess)
	}
	s.waitState(par, bgtask.StateSuccess)
	s.waitUntil(wait, "running", func(ti *bgtask.TaskInfo) bool { return ti.Owner != "" })
	axe := axeSource(t)

	b := openDashboard(t, s, "")
	if r := b.waitRow(byteTask, "bytes", `r.state === 'SUCCESS' && r.count !== ''`); r.Count != "288.9 kB of 288.9 kB (100 %)" {
		t.Errorf("a byte counter reads %q, want sizes", r.Count)
	}
	b.waitRow(prog, "steps", `r.count === 'Task 3 of 3'`)
	b.waitRow(wait, "running", `r.badge === 'RUNNING'`)
	waitJS[bool](b, "the overview", `/finished in the last hour/.test(document.getElementById('tp-summary').textContent) && document.querySelectorAll('#names tbody tr').length >= 4 && document.querySelectorAll('#servers li').length >= 1`, waitFor)
	b.axeCheck(axe, "the list")
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, par)))
	b.waitDetail(par, "the parallel task", `d.subtasks.length === 3 && d.retry && d.log.includes('partial_success')`)
	b.axeCheck(axe, "the task view")
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, wait)))
	b.waitDetail(wait, "running", `d.cancel`)
	b.do(chromedp.Click(chromedp.ID("d-cancel")))
	waitJS[bool](b, "the confirmation", `document.getElementById('confirm').open`, waitFor)
	b.axeCheck(axe, "the cancel confirmation")
	b.do(chromedp.Click(chromedp.ID("confirm-no")))

	// Labels, for what a real task shows only briefly.
	type label struct{ Badge, Text string }
	for _, tc := range []struct{ rec, want string }{
		{`{state: 'ONGOING', attempt: 0, priority: 'normal'}`, `{"Badge":"QUEUED","Text":"queued; waiting for a worker"}`},
		{`{state: 'ONGOING', attempt: 0, priority: 'idle'}`, `{"Badge":"QUEUED","Text":"queued; runs when the machine is idle"}`},
		{`{state: 'ONGOING', attempt: 1, owner: 'srv', priority: 'idle'}`, `{"Badge":"IDLE WAIT","Text":"waiting for idle time"}`},
		{`{state: 'ONGOING', attempt: 1, owner: 'srv', priority: 'idle', progress: {current: 2, total: 9, message: ''}}`, `{"Badge":"RUNNING","Text":""}`},
		{`{state: 'ONGOING', attempt: 1, owner: 'srv', cancel_requested: true}`, `{"Badge":"CANCELLING","Text":"cancel requested"}`},
	} {
		got := eval[label](b, `(() => { const s = bgtaskDashboard.status(Object.assign({id: 'x', name: 'n', args: []}, `+tc.rec+`)); return {Badge: s.badge, Text: s.text}; })()`)
		if fmt.Sprintf(`{"Badge":%q,"Text":%q}`, got.Badge, got.Text) != tc.want {
			t.Errorf("status of %s: %+v, want %s", tc.rec, got, tc.want)
		}
	}
	for _, tc := range []struct{ progress, unit, want string }{
		{`{current: 4, total: 10}`, ``, `Task 4 of 10`},
		{`{current: 288894, total: 288894}`, ``, `100 %`},
		{`{current: 1.5, total: 4}`, ``, `37 %`},
		{`{current: 1200000, total: 4500000}`, `bytes`, `1.20 MB of 4.50 MB (26 %)`},
		{`{current: 27, total: 100}`, `percent`, `27 %`},
		{`{current: 3, total: 12}`, `files`, `3 of 12 files`},
		{`{current: 5, total: 0}`, ``, `5`},
		{`{current: 0, total: 0}`, ``, ``},
	} {
		if got := eval[string](b, fmt.Sprintf(`bgtaskDashboard.progressLabel(%s, %q)`, tc.progress, tc.unit)); got != tc.want {
			t.Errorf("progress %s in %q: %q, want %q", tc.progress, tc.unit, got, tc.want)
		}
	}

	// Phone width.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = '#/'`))
	waitJS[bool](b, "rows as cards", `bgtaskDashboard.rowHeight() === 96 && document.querySelectorAll('#rows .row').length >= 4`, waitFor)
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("at phone width the page is %d px wide in a %d px window", w[0], w[1])
	}
	b.axeCheck(axe, "the list at phone width")
	b.screenshot(filepath.Join(t.ArtifactDir(), "dashboard-phone.png"))
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, par)))
	b.waitDetail(par, "at phone width", `d.subtasks.length === 3`)
	if w := eval[[]int](b, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		t.Errorf("at phone width the task view is %d px wide in a %d px window", w[0], w[1])
	}
	b.screenshot(filepath.Join(t.ArtifactDir(), "dashboard-phone-task.png"))
	if c := b.consoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}
}

// prepareTasks stores n `success` tasks in a boltstore data directory, with
// the Go API, before any server opens it.
func prepareTasks(t testing.TB, dir string, n int) {
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
	Events       int     `json:"events"`
	SlowestFrame float64 `json:"slowestFrame"` // ms
	BiggestBatch int     `json:"biggestBatch"`
}

const statsJS = `window.bgtaskDashboard.stats()`

// With 10,000 tasks the page stays bounded: the server runs them all while
// the page is open (20,000 events) and every count reaches the page; the
// DOM holds only the rows on screen, the tasks in memory stay within
// MAX_TASKS, and a task submitted elsewhere appears. How fast it does so
// is measured by BenchmarkDashboardLoad, not asserted here.
func TestDashboardTenThousandTasks(t *testing.T) {
	t.Parallel()
	const n = 10000
	dir := t.TempDir()
	prepareTasks(t, dir, n)
	s := startServer(t, dir)
	b := openDashboard(t, s, "")
	maxTasks := eval[int](b, `window.bgtaskDashboard.MAX_TASKS`)

	// While the server drains the queue, a task submitted with the form
	// shows.
	b.do(
		chromedp.Click(chromedp.CSS("#submit-box summary")),
		chromedp.SetValue(chromedp.ID("f-name"), "success"),
		chromedp.SetValue(chromedp.ID("f-args"), "during the drain"),
		chromedp.Click(chromedp.ID("f-submit")),
	)
	id := waitJS[string](b, "the submitted task's ID", `document.getElementById('f-result').dataset.id`, waitFor)
	b.waitRow(id, "shown", `true`)

	// All done: every count reaches the page.
	waitJS[bool](b, "the counts after the drain", fmt.Sprintf(`document.querySelector('#counts button[data-state="SUCCESS"] .n').textContent === '%s'`, fmtThousands(n+1)), waitFor)

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
	st := eval[pageStats](b, statsJS)
	t.Logf("after %d more pages: page %+v", pages, st)
	if st.Tasks < maxTasks-1000 || st.Tasks > maxTasks || st.Rows == 0 || st.Rows >= 500 {
		t.Errorf("after loading every page: %+v; want about MAX_TASKS=%d tasks in memory and fewer than 500 rows in the DOM", st, maxTasks)
	}
	rowsInDOM := eval[int](b, `document.querySelectorAll('#rows .row').length`)
	if rowsInDOM != st.Rows || rowsInDOM >= 500 {
		t.Errorf("%d task rows in the DOM, want fewer than 500", rowsInDOM)
	}
	height := eval[int](b, `parseInt(document.getElementById('rows').style.height)`)
	if height != st.Loaded*eval[int](b, `window.bgtaskDashboard.rowHeight()`) {
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

	// A task submitted elsewhere appears (at the top), and memory stays
	// bounded.
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('scroller').scrollTop = 0`))
	id = s.submit("success", "after the drain")
	b.waitRow(id, "shown", `r.state === 'SUCCESS'`)
	if st = eval[pageStats](b, statsJS); st.Tasks > maxTasks {
		t.Errorf("%d tasks in memory, want at most MAX_TASKS=%d", st.Tasks, maxTasks)
	}
	if c := b.consoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(c, "\n"))
	}
}

// fmtThousands writes n as the page does (en-US grouping).
func fmtThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

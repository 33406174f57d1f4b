package e2e_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/bgtask/bgtask"
)

// attackPage is a page of another origin that tries, in the browser of a
// user who runs `bgtask serve`, the writes any web page can send without
// a CORS preflight: a no-cors fetch with a text/plain JSON body (one for
// removeDirectory, one for a harmless task) and an auto-submitted
// <form enctype="text/plain"> whose single field spells a JSON object,
// plus the same fetch to cancel a task, and a CORS fetch with a JSON body
// (its preflight fails). window.__done counts the attempts that have come
// back (opaque answers, failures, load events).
const attackPage = `<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="%[1]s/v1/tasks" enctype="text/plain" target="sink">
<input name='{"name":"success","args":["form"],"idempotency_key":"' value='"}'>
</form>
<script>
window.__done = 0;
const api = %[1]q;
const send = (path, body) => fetch(api + path, {method: 'POST', mode: 'no-cors',
  headers: {'Content-Type': 'text/plain'}, body: JSON.stringify(body)})
  .finally(() => window.__done++);
send('/v1/tasks', {name: 'removeDirectory', args: [%[2]q, 'projects', '0', '*']});
send('/v1/tasks', {name: 'success', args: ['fetch']});
send('/v1/tasks/' + %[3]q + '/cancel', {});
// A JSON write needs a CORS preflight, which the server never grants.
fetch(api + '/v1/tasks', {method: 'POST', headers: {'Content-Type': 'application/json'},
  body: JSON.stringify({name: 'success', args: ['cors']})}).finally(() => window.__done++);
document.getElementById('sink').addEventListener('load', () => window.__done++);
document.getElementById('f').submit();
</script></body></html>`

// Cross-site writes fail in a real browser. A page served from another
// loopback origin (another port of 127.0.0.1, and localhost) sends what
// any page can send without a preflight, to a default server (loopback,
// no token): nothing is submitted, nothing cancelled, the directory
// stays. Fails on the old code: the text/plain bodies were accepted
// (201), and removeDirectory emptied the directory.
func TestCrossSiteWritesInBrowser(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "projects", "work"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "")
	victim := s.submit("wait", "60")
	s.waitUntil(victim, "running", func(i *bgtask.TaskInfo) bool { return i.Attempt == 1 })

	page := fmt.Sprintf(attackPage, s.url(""), home, victim)
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(evil.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(evil.URL, "http://"))

	b := newBrowser(t)
	for _, origin := range []string{evil.URL, "http://localhost:" + port} {
		b.do(chromedp.Navigate(origin + "/"))
		// 4 fetches settled and the form's answer loaded in the frame.
		waitJS[bool](b, "the attack from "+origin, `window.__done >= 5`, waitFor)
	}

	_, out, _ := s.run("list", "--json", "--limit", "100")
	var res bgtask.ListResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("list: %v: %s", err, out)
	}
	if len(res.Tasks) != 1 || res.Tasks[0].ID != victim {
		var names []string
		for _, task := range res.Tasks {
			names = append(names, task.Name+fmt.Sprint(task.Args))
		}
		t.Errorf("tasks after the attack: %v, want only the victim", names)
	}
	if info := s.status(victim); info.CancelRequested || info.State != bgtask.StateOngoing {
		t.Errorf("the victim after the attack: %+v", info)
	}
	if _, err := os.Stat(filepath.Join(home, "projects", "work")); err != nil {
		t.Errorf("the directory after the attack: %v", err)
	}
}

// With a token the dashboard's own writes still work: opened as
// /?access_token=T, it submits through its form (same origin, JSON, the
// token in the header) and the task runs.
func TestDashboardWritesWithToken(t *testing.T) {
	t.Parallel()
	const token = "dash-token-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "", "--token-file", file)
	s.env = append(s.env, "BGTASK_TOKEN="+token)
	b := openDashboard(t, s, "?access_token="+token)
	waitJS[bool](b, "the definitions", `document.querySelector('#f-name option[value=success]') !== null`, waitFor)
	b.do(
		chromedp.Click(chromedp.CSS("#submit-box summary")),
		chromedp.SetValue(chromedp.ID("f-name"), "success"),
		chromedp.SetValue(chromedp.ID("f-args"), "from-dashboard"),
		chromedp.Click(chromedp.ID("f-submit")),
	)
	id := waitJS[string](b, "the submitted task's ID", `document.getElementById('f-result').dataset.id`, waitFor)
	if info := s.waitState(id, bgtask.StateSuccess); len(info.Args) != 1 || info.Args[0] != "from-dashboard" {
		t.Fatalf("task submitted by the dashboard: %+v", info)
	}
	// And its cancel button (a bodiless POST) works.
	wait := s.submit("wait", "60")
	s.waitUntil(wait, "running", func(ti *bgtask.TaskInfo) bool { return ti.Owner != "" })
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/task/%s'`, wait)))
	b.waitDetail(wait, "running, with Cancel", `d.cancel`)
	b.do(chromedp.Click(chromedp.ID("d-cancel")))
	waitJS[bool](b, "the confirmation", `document.getElementById('confirm').open`, waitFor)
	b.do(chromedp.Click(chromedp.ID("confirm-yes")))
	b.waitDetail(wait, "CANCELLED", `d.badge === 'CANCELLED'`)
}

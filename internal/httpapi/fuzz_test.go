package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store/boltstore"
)

// Fuzz targets for every decoder of outside input in this package. The
// test command runs each for a bounded time (scripts/test); plain
// `go test` runs their seeds.

// FuzzDecodeSubmit: a body is refused or decoded into a request that the
// standard decoder reads the same way, that is valid UTF-8, and that
// survives a round trip.
func FuzzDecodeSubmit(f *testing.F) {
	for _, seed := range []string{
		`{"name":"quick","args":["a","b"],"idempotency_key":"k","priority":"idle","timeout":"90s","idle_timeout":"1m"}`,
		`{"NAME":"quick"}`, `{"name":"quick","Args":["a"]}`, `{"name":"a","name":"b"}`,
		`{"name":"quick","args":["a",null]}`, "{\"name\":\"\xff\"}", `{"name":"\ud800"}`,
		`{"name":"\ud83d\ude00"}`, `{"name":"x","args":[]} `, `{}`, `[]`, `null`, ``, `{"name":"x"}{}`,
		`{"name":"removeDirectory","args":["/home/u/projects","","0","*"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeSubmit(data)
		if err != nil {
			if code := err.(*apiError).code; code != CodeInvalidJSON {
				t.Fatalf("refusal code %q", code)
			}
			return
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		var std SubmitRequest
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
		}
		if std.Args == nil && req.Args != nil && len(req.Args) == 0 {
			std.Args = []string{}
		}
		if !reflect.DeepEqual(*req, std) {
			t.Fatalf("%q: strict %+v, encoding/json %+v", data, *req, std)
		}
		norm := *req
		if norm.Args == nil {
			norm.Args = []string{} // what a client sends for none
		}
		again, err := json.Marshal(&norm)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeSubmit(again)
		if err != nil || !reflect.DeepEqual(*back, norm) {
			t.Fatalf("round trip of %q: %+v %v", data, back, err)
		}
	})
}

// FuzzListQuery: a query string is refused or gives options in range.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{
		"limit=1000", "limit=0", "limit=1&limit=2", "state=SUCCESS&name=quick", "cursor=zzz",
		"cursor=01a22c93-e232-733e-b486-c7f5c374fe3b", "id_prefix=01a2", "name=%00", "limit=%2B5", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		opts, err := parseListQuery(q)
		if err != nil {
			if _, ok := err.(*apiError); !ok && !isInvalidArgument(err) {
				t.Fatalf("%q: refusal %v is not a 400", raw, err)
			}
			return
		}
		switch {
		case opts.Limit < 1 || opts.Limit > MaxListLimit:
			t.Fatalf("%q: limit %d", raw, opts.Limit)
		case opts.Cursor != "" && !validTaskID(opts.Cursor):
			t.Fatalf("%q: cursor %q", raw, opts.Cursor)
		case opts.Name != "" && !bgtask.ValidName(opts.Name):
			t.Fatalf("%q: name %q", raw, opts.Name)
		case len(opts.IDPrefix) > 36:
			t.Fatalf("%q: id_prefix %q", raw, opts.IDPrefix)
		}
	})
}

func isInvalidArgument(err error) bool {
	status, _ := statusOf(err)
	return status == 400
}

// FuzzCursor: a cursor is accepted only if it is a task ID as the manager
// makes them (canonical lowercase UUID).
func FuzzCursor(f *testing.F) {
	for _, seed := range []string{"01a22c93-e232-733e-b486-c7f5c374fe3b", "01A22C93-E232-733E-B486-C7F5C374FE3B",
		"{01a22c93-e232-733e-b486-c7f5c374fe3b}", "urn:uuid:01a22c93-e232-733e-b486-c7f5c374fe3b", "01a22c93e232733eb486c7f5c374fe3b", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, c string) {
		if !validTaskID(c) {
			return
		}
		if len(c) != 36 || strings.ToLower(c) != c || strings.Count(c, "-") != 4 {
			t.Fatalf("accepted cursor %q", c)
		}
	})
}

// FuzzLastEventID: a Last-Event-ID (header or query) is read as the
// decimal sequence number it spells, as none when empty, and as notGiven
// (an ID the log did not give) otherwise: never refused.
func FuzzLastEventID(f *testing.F) {
	for _, seed := range []string{"42", "0", "007", "18446744073709551615", "18446744073709551616", "-1", "+1", "1.5", "1e3", "yesterday", " 7", "7 ", "0x10", "１", ""} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, v string, inQuery bool) {
		r := httptest.NewRequest("GET", "/v1/events", nil)
		if inQuery {
			r.URL.RawQuery = url.Values{"last_event_id": {v}}.Encode()
		} else {
			r.Header["Last-Event-Id"] = []string{v}
		}
		n, ok := lastEventID(r)
		switch want, perr := strconv.ParseUint(v, 10, 64); {
		case v == "":
			if ok {
				t.Fatalf("empty value read as %d", n)
			}
		case !ok:
			t.Fatalf("%q: ignored", v)
		case perr == nil && n != want:
			t.Fatalf("%q: read as %d", v, n)
		case perr != nil && n != notGiven:
			t.Fatalf("%q (not a sequence number): read as %d, want notGiven", v, n)
		}
	})
}

// FuzzSubmitHandler: whatever the body and content type, POST /v1/tasks
// through the whole handler (checks, decoder, options, manager, store)
// answers a JSON status below 500.
func FuzzSubmitHandler(f *testing.F) {
	st, err := boltstore.New(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }})
	reg.MustAdd(bgtask.Definition{Name: "modeonly", TaskModeOnly: true, Run: func(context.Context, *bgtask.Task) error { return nil }})
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st}) // not started: tasks queue
	if err != nil {
		f.Fatal(err)
	}
	s := New(Config{Manager: m})
	for _, seed := range []string{
		`{"name":"quick","args":["a"],"priority":"idle","timeout":"1s","idempotency_key":"k"}`,
		`{"name":"quick","args":["b"],"idempotency_key":"k"}`, `{"name":"modeonly"}`, `{"name":"nope"}`,
		`{"name":"quick","timeout":"-1s"}`, `{"name":"quick","priority":"urgent"}`, `{"name":""}`,
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Add([]byte(`{"name":"quick"}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1/v1/tasks", bytes.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%q (%q): %d %s", body, ctype, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var eb ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("%q: %d with body %s", body, w.Code, w.Body)
			}
		}
	})
}

// FuzzGuard: whatever the Host, Origin, Sec-Fetch-Site, Content-Type and
// Authorization headers, a request passes the checks only as the rules
// say (guard.go).
func FuzzGuard(f *testing.F) {
	f.Add("127.0.0.1:8080", "", "", "application/json", "", "POST", false)
	f.Add("evil.example:8080", "http://evil.example:8080", "same-origin", "application/json", "", "POST", false)
	f.Add("127.0.0.1:8080", "http://127.0.0.1:9999", "same-site", "text/plain", "", "POST", false)
	f.Add("[::1]:80", "null", "cross-site", "application/json; charset=utf-8", "bEaReR  0123456789abcdef", "POST", true)
	f.Add("LOCALHOST", "", "none", "", "Bearer 0123456789abcdef", "GET", true)
	f.Fuzz(func(t *testing.T, host, origin, site, ctype, auth, method string, withToken bool) {
		if !validMethod(method) {
			return
		}
		token := ""
		if withToken {
			token = "0123456789abcdef"
		}
		s := &Server{token: []byte(token)}
		r := httptest.NewRequest("GET", "/v1/tasks", nil)
		r.Method, r.Host = method, host
		r.Header = map[string][]string{"Origin": {origin}, "Sec-Fetch-Site": {site}, "Content-Type": {ctype}, "Authorization": {auth}}
		w := httptest.NewRecorder()
		ok := s.guard(w, r) && s.guardWrite(w, r)
		if !ok {
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		got, _ := bearer(auth)
		switch {
		case !withToken && !loopbackHost(host):
			t.Fatalf("Host %q served without a token", host)
		case withToken && got != token:
			t.Fatalf("Authorization %q accepted", auth)
		case safeMethod(method):
		case site != "" && site != "same-origin" && site != "none":
			t.Fatalf("%s with Sec-Fetch-Site %q accepted", method, site)
		case origin != "" && !strings.HasSuffix(strings.ToLower(origin), "://"+strings.ToLower(host)):
			t.Fatalf("%s from Origin %q to Host %q accepted", method, origin, host)
		case !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ctype)), "application/json"):
			t.Fatalf("%s with Content-Type %q accepted", method, ctype)
		}
	})
}

// validMethod reports whether m is an HTTP token (what a server would
// have parsed).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// FuzzReadRoutes: any GET (every read route, with any query, this issue's
// and later ones alike) answers a status below 500, and a JSON error body
// when it refuses. Event streams are left out (they do not end); their
// only input, Last-Event-ID, has FuzzLastEventID.
func FuzzReadRoutes(f *testing.F) {
	st, err := boltstore.New(f.TempDir(), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	reg := bgtask.NewRegistry()
	reg.MustAdd(bgtask.Definition{Name: "quick", Run: func(context.Context, *bgtask.Task) error { return nil }})
	m, err := bgtask.NewManager(&bgtask.Config{Registry: reg, Store: st}) // not started
	if err != nil {
		f.Fatal(err)
	}
	id, err := m.Submit(context.Background(), "quick", []string{"a"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	s := New(Config{Manager: m})
	for _, seed := range []string{
		"/v1/tasks?limit=1000&state=ONGOING&name=quick", "/v1/tasks?cursor=" + id, "/v1/tasks?id_prefix=01",
		"/v1/tasks/" + id, "/v1/tasks/" + id + "/log?limit=5", "/v1/tasks/nope/log", "/v1/stats", "/v1/stats/names",
		"/v1/throughput?window=1h", "/v1/servers", "/v1/definitions", "/healthz", "/v1/tasks?limit=0", "/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.HasSuffix(u.Path, "/events") {
			return
		}
		r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
		r.URL, r.RequestURI = u, target
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("GET %q: %d %s", target, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var eb ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("GET %q: %d with body %s", target, w.Code, w.Body)
			}
		}
	})
}

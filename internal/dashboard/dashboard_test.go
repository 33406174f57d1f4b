package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/internal/dashboard"
	"github.com/bgtask/bgtask/internal/httpapi"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestHandlerServesThePageAndItsAssets(t *testing.T) {
	t.Parallel()
	h := dashboard.Handler()
	for _, tc := range []struct {
		path string
		typ  string
		has  string
	}{
		{"/", "text/html; charset=utf-8", `<script src="assets/app.js" defer></script>`},
		{"/assets/app.js", "text/javascript; charset=utf-8", "requestAnimationFrame(flush)"},
		{"/assets/app.css", "text/css; charset=utf-8", "--row: 48px"},
		{"/assets/icon.svg", "image/svg+xml", "<svg"},
	} {
		res, body := get(t, h, http.MethodGet, tc.path, nil)
		got := []string{res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"), res.Header.Get("X-Content-Type-Options")}
		if diff := cmp.Diff([]string{"200 OK", tc.typ, "no-cache", "nosniff"}, got); diff != "" {
			t.Errorf("GET %s: status, type, cache, nosniff (-want +got):\n%s", tc.path, diff)
		}
		if !strings.Contains(body, tc.has) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.has)
		}
	}
}

func TestHandlerPageHeaders(t *testing.T) {
	t.Parallel()
	res, _ := get(t, dashboard.Handler(), http.MethodGet, "/", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q: want scripts from this origin only", csp)
	}
	if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer (the URL may hold the token)", rp)
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	t.Parallel()
	h := dashboard.Handler()
	res, _ := get(t, h, http.MethodGet, "/assets/app.js", nil)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on an asset")
	}
	res, body := get(t, h, http.MethodGet, "/assets/app.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET with If-None-Match %s: %s with %d bytes, want 304 and no body", etag, res.Status, len(body))
	}
	res, body = get(t, h, http.MethodHead, "/assets/app.css", nil)
	if res.StatusCode != http.StatusOK || body != "" || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("HEAD: %s %q with %d bytes", res.Status, res.Header.Get("Content-Type"), len(body))
	}
}

func TestHandlerErrors(t *testing.T) {
	t.Parallel()
	h := dashboard.Handler()
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/assets/nope.js", http.StatusNotFound, httpapi.CodeNotFound},
		{http.MethodGet, "/assets/", http.StatusNotFound, httpapi.CodeNotFound},
		{http.MethodGet, "/assets/../index.html", http.StatusNotFound, httpapi.CodeNotFound},
		{http.MethodGet, "/index.html", http.StatusNotFound, httpapi.CodeNotFound},
		{http.MethodGet, "/v1/nope", http.StatusNotFound, httpapi.CodeNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, httpapi.CodeMethod},
	} {
		res, body := get(t, h, tc.method, tc.path, nil)
		var e httpapi.ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || res.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s %s: %s %q; want %d with code %s", tc.method, tc.path, res.Status, body, tc.status, tc.code)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.path, ct)
		}
	}
}

// Through the API server: the dashboard is at /; its page and assets
// hold no data and are served without the token (the page asks for it),
// while the API still needs it.
func TestHandlerBehindTheAPIToken(t *testing.T) {
	t.Parallel()
	api := httpapi.New(httpapi.Config{Token: "t0k", Dashboard: dashboard.Handler()})
	for _, path := range []string{"/", "/assets/app.js", "/?access_token=t0k"} {
		if res, _ := get(t, api, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s without the token: %s, want 200", path, res.Status)
		}
	}
	if res, _ := get(t, api, http.MethodGet, "/v1/stats", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/stats without the token: %s, want 401", res.Status)
	}
	// The page never carries the token it was opened with.
	if _, body := get(t, api, http.MethodGet, "/?access_token=t0k", nil); strings.Contains(body, "t0k") {
		t.Errorf("the page repeats the token of its address")
	}
}

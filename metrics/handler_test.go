package metrics_test

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bgtask/bgtask/metrics"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	h, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	run(h, "t", success(time.Second))
	want := scrape(t, h) + scrape(t, h)
	srv := httptest.NewServer(metrics.Handler(h, h))
	defer srv.Close()

	for _, accept := range []string{"", "gzip", "deflate, gzip;q=0.5", "gzip;q=0"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", accept) // set: the transport then leaves the body compressed
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: Content-Type = %q", accept, got)
		}
		wantGzip := accept == "gzip" || accept == "deflate, gzip;q=0.5"
		body := io.Reader(resp.Body)
		if got := resp.Header.Get("Content-Encoding"); got != map[bool]string{true: "gzip"}[wantGzip] {
			t.Errorf("Accept-Encoding %q: Content-Encoding = %q", accept, got)
		}
		if wantGzip {
			if body, err = gzip.NewReader(resp.Body); err != nil {
				t.Fatalf("Accept-Encoding %q: %v", accept, err)
			}
		}
		got, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("Accept-Encoding %q: body (-want +got):\n%s", accept, diff)
		}
	}
}

type failingSource struct{}

func (failingSource) WriteTo(io.Writer) (int64, error) { return 0, errors.New("broken") }

func TestHandlerSourceError(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	metrics.Handler(metrics.Process{}, failingSource{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if got, want := rec.Body.String(), "metrics: broken\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

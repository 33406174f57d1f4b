// Package httpapi serves the bgtask HTTP API (/v1), server-sent event
// streams, /metrics, /healthz and the dashboard.
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/quote"
)

// Defaults of Config fields left at their zero value.
const (
	// DefaultPingInterval is the gap between ": ping" comments on event
	// streams.
	DefaultPingInterval = 15 * time.Second
	// MaxBodyBytes bounds request bodies (1 MiB).
	MaxBodyBytes = 1 << 20
	// DashboardAssetPrefix is the path under which Config.Dashboard
	// serves the page's assets.
	DashboardAssetPrefix = "/assets/"
)

// Config configures the API server.
type Config struct {
	// Manager serves every request. Required.
	Manager *bgtask.Manager
	// Token, if set, is required as "Authorization: Bearer <token>" on
	// every endpoint but /healthz (as ?access_token= on GET of the event
	// streams and the dashboard). Without one, only loopback Host values
	// are served. See guard.go and docs/security.md.
	Token string
	// Metrics serves /metrics (e.g. promhttp.HandlerFor). nil: 404. Its
	// requests carry no query: any parameter is 400 unknown_parameter.
	Metrics http.Handler
	// Dashboard serves GET and HEAD of / and of the paths under
	// DashboardAssetPrefix; other paths are the API's (404 if unknown).
	// nil: 404.
	Dashboard http.Handler
	// PingInterval is the gap between ping comments on event streams.
	// Default DefaultPingInterval.
	PingInterval time.Duration
	// Logger receives request errors. Default: discard.
	Logger *slog.Logger
}

// Server is the API's http.Handler.
type Server struct {
	m      *bgtask.Manager
	token  []byte
	ping   time.Duration
	logger *slog.Logger
	mux    *http.ServeMux
	// params lists the query parameters each route (by its mux pattern)
	// accepts: see handle and checkQuery (query.go).
	params  map[string][]string
	streams atomic.Int64
	tp      throughput
	// dashboard is set when a dashboard is served (its page is public).
	dashboard bool
	health    health
	// stopCtx is cancelled by BeginShutdown (stop).
	stopCtx context.Context
	stop    context.CancelFunc
}

// New returns the API server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		m:      cfg.Manager,
		token:  []byte(cfg.Token),
		ping:   cfg.PingInterval,
		logger: cfg.Logger,
		mux:    http.NewServeMux(),
		params: map[string][]string{},
	}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	if s.ping <= 0 {
		s.ping = DefaultPingInterval
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.routes(cfg)
	return s
}

// routes registers every route with the query parameters it accepts, in
// this one table: a parameter a route does not list is refused (400
// unknown_parameter), as is any parameter given twice (query.go). A route
// lists access_token only where guard.go's queryTokenAllowed reads it.
func (s *Server) routes(cfg Config) {
	hf := func(f http.HandlerFunc) http.Handler { return f }
	// Probes send no query; a scrape or probe configured with parameters
	// learns at once that they mean nothing here.
	s.handle("GET /healthz", nil, hf(s.healthz))
	s.handle("POST /v1/tasks", nil, hf(s.submit))
	s.handle("GET /v1/tasks", []string{"state", "name", "id_prefix", "limit", "cursor"}, hf(s.list))
	s.handle("GET /v1/tasks/{id}", nil, hf(s.get))
	s.handle("POST /v1/tasks/{id}/cancel", nil, hf(s.cancel))
	s.handle("POST /v1/tasks/{id}/retry", nil, hf(s.retry))
	// EventSource sets no headers: the position and the token may come in
	// the query.
	s.handle("GET /v1/tasks/{id}/events", []string{"last_event_id", paramAccessToken}, hf(s.taskEvents))
	s.handle("GET /v1/events", []string{"last_event_id", paramAccessToken}, hf(s.allEvents))
	s.handle("GET /v1/definitions", nil, hf(s.definitions))
	s.handle("GET /v1/stats", nil, hf(s.stats))
	s.handle("GET /v1/servers", nil, hf(s.servers))
	s.handle("GET /v1/stats/names", nil, hf(s.nameCounts))
	s.handle("GET /v1/throughput", nil, hf(s.throughputHandler))
	s.handle("GET /v1/tasks/{id}/log", []string{"limit"}, hf(s.taskLog))
	if cfg.Metrics != nil {
		s.handle("GET /metrics", nil, cfg.Metrics)
	}
	if cfg.Dashboard != nil {
		// Only the paths the dashboard serves: a catch-all "GET /" would
		// make the mux answer 405 "Allow: GET, HEAD" to any other method
		// on any path (404 is right), and add GET to the Allow of
		// POST-only routes.
		s.dashboard = true
		// The page is opened as /?access_token=T (its views' filters are
		// in the hash, #/?state=…); it loads its assets with no query.
		// Other parameters (a link's utm_source) are ignored: the page,
		// not a JSON 400, is what a browser should get.
		s.handle("GET /{$}", []string{paramAccessToken, paramsOthersIgnored}, cfg.Dashboard)
		s.handle("GET "+DashboardAssetPrefix, []string{paramAccessToken, paramsOthersIgnored}, cfg.Dashboard)
	}
}

// ServeHTTP checks the request (guard.go: Host, token, origin, content
// type; query.go: the query against the route's parameters) and routes
// it. Unknown paths and methods get JSON errors too.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.guard(w, r) {
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.notRouted(w, r, h)
		return
	}
	if !s.guardWrite(w, r) {
		return
	}
	if err := s.checkQuery(r, pattern); err != nil {
		status, code := statusOf(err)
		s.refuse(w, r, status, code, err.Error())
		return
	}
	s.mux.ServeHTTP(w, r)
}

// notRouted turns the mux's plain-text 404 and 405 into JSON errors.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: CodeMethod, Message: quote.Clip(r.Method) + " not allowed on " + quote.Clip(r.URL.Path)}})
		return
	}
	writeJSON(w, http.StatusNotFound, ErrorBody{Error: ErrorDetail{Code: CodeNotFound, Message: "no such endpoint: " + quote.Clip(r.URL.Path)}})
}

type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

// Streams returns the number of open event streams.
func (s *Server) Streams() int64 { return s.streams.Load() }

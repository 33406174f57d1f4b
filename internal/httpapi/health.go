package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Bounds of /healthz's store check.
const (
	// HealthCheckTimeout bounds the store call of one /healthz check.
	HealthCheckTimeout = 2 * time.Second
	// HealthCacheFor is how long a /healthz check's answer is reused: a
	// storm of health checks costs the store at most one call per
	// HealthCacheFor.
	HealthCacheFor = time.Second
)

// HealthBody is the JSON answer of GET /healthz: 200 with Status "ok";
// 503 with Status "stopping" (code unavailable) once the manager is
// stopping, so that a load balancer sends new work elsewhere while the
// server finishes its tasks and still answers reads and cancels; or 503
// with Status "unavailable" and Error naming the store's problem (code
// store_unavailable, as the API's other endpoints answer then; the
// store's own error text only to a caller with the token, when the server
// has one).
type HealthBody struct {
	Status   string       `json:"status"`
	ServerID string       `json:"server_id"`
	Error    *ErrorDetail `json:"error,omitempty"`
}

// health caches the last store check of /healthz.
type health struct {
	mu      sync.Mutex // held during a check: concurrent requests wait for it
	checked time.Time
	err     error
}

// checkStore returns the store's health: the cached answer if younger than
// HealthCacheFor, else one bounded store call (Counts: a counter read in
// every store).
func (s *Server) checkStore(ctx context.Context) error {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.checked.IsZero() && time.Since(h.checked) < HealthCacheFor {
		return h.err
	}
	// Not the request's context: a client that hangs up must not make the
	// cached answer an error.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), HealthCheckTimeout)
	defer cancel()
	_, h.err = s.m.Counts(cctx)
	h.checked = time.Now()
	if h.err != nil {
		// once per check, not per request answered from the cache
		s.logger.Warn("health check: store unavailable", "err", h.err)
	}
	return h.err
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	body := HealthBody{Status: "ok", ServerID: s.m.ServerID()}
	if s.m.Stopping() {
		body.Status = "stopping"
		body.Error = &ErrorDetail{Code: CodeUnavailable, Message: "server stopping"}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	if err := s.checkStore(r.Context()); err != nil {
		body.Status = "unavailable"
		msg := "store unavailable"
		if s.authorized(r) {
			// /healthz needs no token: the store's own error (its address,
			// say) only for a caller who could read the rest of the API.
			msg += ": " + strings.TrimPrefix(err.Error(), "bgtask: ")
		}
		body.Error = &ErrorDetail{Code: CodeStoreUnavailable, Message: msg}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/store"
)

// Stable error codes of the API's JSON errors.
const (
	CodeBadRequest     = "bad_request"
	CodeInvalidJSON    = "invalid_json"
	CodeBodyTooLarge   = "body_too_large"
	CodeUnknownTask    = "unknown_task"
	CodeNotFound       = "not_found"
	CodeFinished       = "finished"
	CodeNothingToRetry = "nothing_to_retry"
	CodeUnauthorized   = "unauthorized"
	// CodeForbiddenHost: without a token, a Host that is not loopback (403).
	CodeForbiddenHost = "forbidden_host"
	// CodeCrossOrigin: a write sent by a page of another origin (403).
	CodeCrossOrigin = "cross_origin"
	// CodeUnsupportedMedia: a write without Content-Type: application/json
	// (415).
	CodeUnsupportedMedia = "unsupported_media_type"
	// CodeNotSubmittable: a TaskModeOnly task (403).
	CodeNotSubmittable = "not_submittable"
	CodeMethod         = "method_not_allowed"
	// CodeUnavailable: the manager is stopping (503).
	CodeUnavailable = "unavailable"
	// CodeStoreUnavailable: the store cannot serve the call now: disk
	// full, I/O error, Redis unreachable, store closed (503).
	CodeStoreUnavailable = "store_unavailable"
	// CodeIdempotencyConflict: the idempotency key belongs to a task of
	// another name or other arguments, named in the message (409).
	CodeIdempotencyConflict = "idempotency_conflict"
	// CodeArgsTooLarge: arguments beyond bgtask.MaxArgsBytes (413).
	CodeArgsTooLarge = "args_too_large"
	// CodeUnknownParameter: a query parameter the route does not accept,
	// named in the message with the ones the route accepts (400). A
	// malformed query or a parameter given twice is bad_request.
	CodeUnknownParameter = "unknown_parameter"
	// CodeRequestTimeout: the request body did not arrive within the
	// server's ReadTimeout (408, with Connection: close).
	CodeRequestTimeout = "request_timeout"
	CodeInternal       = "internal"
)

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code (stable, for programs) and message (for people).
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiError is an error with its HTTP status and code.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, msg string) error {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg}
}

// statusOf maps an error to its HTTP status and code: the one place that
// does.
func statusOf(err error) (int, string) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, CodeBodyTooLarge
	case errors.Is(err, bgtask.ErrNotSubmittable):
		return http.StatusForbidden, CodeNotSubmittable
	case errors.Is(err, bgtask.ErrUnknownTask):
		return http.StatusNotFound, CodeUnknownTask
	case errors.Is(err, bgtask.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, bgtask.ErrFinished):
		return http.StatusConflict, CodeFinished
	case errors.Is(err, bgtask.ErrNothingToRetry):
		return http.StatusConflict, CodeNothingToRetry
	case errors.Is(err, bgtask.ErrInvalidArgument):
		return http.StatusBadRequest, CodeBadRequest
	case errors.Is(err, bgtask.ErrIdempotencyConflict):
		return http.StatusConflict, CodeIdempotencyConflict
	case errors.Is(err, bgtask.ErrArgsTooLarge):
		return http.StatusRequestEntityTooLarge, CodeArgsTooLarge
	case errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeStoreUnavailable
	case errors.Is(err, bgtask.ErrStopped):
		return http.StatusServiceUnavailable, CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, CodeUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

// writeError answers a request with err's status and JSON error. It
// always writes: a cancelled request context does not mean that nobody
// waits for the answer (net/http cancels it when a body read fails, a
// read timeout included, and the client is still there), and a handler
// that returns without writing makes net/http send 200 with an empty
// body. Writing to a client that did hang up costs a failed write.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := statusOf(err)
	msg := strings.TrimPrefix(err.Error(), "bgtask: ")
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		switch {
		case r.Context().Err() != nil && err != errStopping:
			// Most likely the client hung up: not the server's fault.
			s.logger.Debug("request cancelled", "method", r.Method, "path", r.URL.Path, "err", err)
		case errors.Is(err, bgtask.ErrStopped):
			// A submission while the server stops gracefully: expected,
			// and one line per refused request would flood the log.
			s.logger.Debug("request refused: server stopping", "method", r.Method, "path", r.URL.Path)
			msg = "server stopping"
		default:
			s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if status == http.StatusInternalServerError {
			msg = "internal error"
		}
	}
	body := ErrorBody{Error: ErrorDetail{Code: code, Message: msg}}
	switch code {
	case CodeBodyTooLarge:
		body.Error.Message = "request body larger than 1 MiB"
		drain(w, r, func() { writeJSON(w, status, body) })
		return
	case CodeUnavailable, CodeRequestTimeout:
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Not a 200 with an empty body: the client learns that the
		// answer could not be made.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "cannot encode the answer: " + err.Error()}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

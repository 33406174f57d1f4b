package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/duration"
	"github.com/bgtask/bgtask/internal/quote"
)

// SubmitRequest is the body of POST /v1/tasks.
type SubmitRequest struct {
	Name           string   `json:"name"`
	Args           []string `json:"args"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	Priority       string   `json:"priority,omitempty"`
	// Timeout and IdleTimeout are Go durations ("90s", "5m") or bare
	// numbers of seconds ("90"), as everywhere in bgtask. Timeout is more
	// than 0 (400 otherwise); absent, the run gets the definition's
	// timeout, else the server's default. IdleTimeout "0" is the same as
	// absent: an idle-priority task waits for an idle period unbounded.
	Timeout     string `json:"timeout,omitempty"`
	IdleTimeout string `json:"idle_timeout,omitempty"`
}

// fields are the members of a SubmitRequest, by their exact names.
func (req *SubmitRequest) fields() map[string]fieldFunc {
	return map[string]fieldFunc{
		"name":            stringField(&req.Name),
		"args":            stringsField(&req.Args),
		"idempotency_key": optionalField(&req.IdempotencyKey),
		"priority":        optionalField(&req.Priority),
		"timeout":         durationField(&req.Timeout),
		"idle_timeout":    durationField(&req.IdleTimeout),
	}
}

// decodeSubmit reads and strictly decodes a SubmitRequest.
func decodeSubmit(data []byte) (*SubmitRequest, error) {
	req := &SubmitRequest{}
	if err := decodeObject(data, req.fields()); err != nil {
		return nil, err
	}
	return req, nil
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	data, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, err := decodeSubmit(data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := req.opts()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Name == "" {
		s.writeError(w, r, badRequest(CodeBadRequest, `"name" is required`))
		return
	}
	id, err := s.m.Submit(r.Context(), req.Name, req.Args, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.m.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tasks/"+id)
	writeJSON(w, http.StatusCreated, info)
}

func (req *SubmitRequest) opts() (*bgtask.SubmitOpts, error) {
	o := &bgtask.SubmitOpts{IdempotencyKey: req.IdempotencyKey, Priority: bgtask.Priority(req.Priority)}
	for _, d := range []struct {
		field string
		in    string
		out   *time.Duration
	}{{"timeout", req.Timeout, &o.Timeout}, {"idle_timeout", req.IdleTimeout, &o.IdleTimeout}} {
		if d.in == "" {
			continue
		}
		v, err := duration.Parse(d.in)
		if err != nil {
			if errors.Is(err, duration.ErrSyntax) {
				return nil, badRequest(CodeBadRequest, fmt.Sprintf("%q: want %s, got %s", d.field, duration.Syntax, quote.Q(d.in)))
			}
			// Negative, too large, under 1 ns: the cause, as the CLI says it.
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("%q: %v", d.field, err))
		}
		if v == 0 && d.field == "timeout" {
			// Every run has a timeout: 0 can mean neither "none" nor,
			// unambiguously, the default (which leaving it out asks for).
			return nil, badRequest(CodeBadRequest, `"timeout": want more than 0; leave "timeout" out for the definition's timeout, else the server's default (every run has one)`)
		}
		*d.out = v
	}
	return o, nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	info, err := s.m.Get(r.Context(), pathTaskID(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	opts, err := parseListQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.listPage(w, r, opts) // list.go
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, s.m.Cancel)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, s.m.Retry)
}

// control runs Cancel or Retry and answers 202 with the record. The body
// is empty or an empty object ({}).
func (s *Server) control(w http.ResponseWriter, r *http.Request, op func(context.Context, string) error) {
	data, err := s.readBody(w, r)
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		err = decodeObject(data, nil)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := pathTaskID(r)
	if err := op(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.m.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, info)
}

// Definition is one entry of GET /v1/definitions.
type Definition struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Priority    string `json:"priority"`
	Parallel    bool   `json:"parallel"`
	Retriable   bool   `json:"retriable"`
	MaxAttempts int    `json:"max_attempts"`
	// Timeout and MinRuntime are Go durations ("1m30s"), absent when the
	// definition has none.
	Timeout    string   `json:"timeout,omitempty"`
	MinRuntime string   `json:"min_runtime,omitempty"`
	NoOutput   bool     `json:"no_output,omitempty"`
	Workspace  string   `json:"workspace"` // ephemeral, persistent or none
	Tags       []string `json:"tags,omitempty"`
	// ProgressUnit is the definition's ProgressUnit ("" for steps).
	ProgressUnit string `json:"progress_unit,omitempty"`
}

func (s *Server) definitions(w http.ResponseWriter, r *http.Request) {
	var out []Definition
	for _, d := range s.m.Registry().Definitions() {
		if d.TaskModeOnly {
			continue // not submittable here
		}
		out = append(out, Definition{
			Name:        d.Name,
			Description: d.Description,
			Priority:    string(d.EffectivePriority()),
			Parallel:    d.Parallel(),
			Retriable:   d.Retriable,
			MaxAttempts: d.Attempts(),
			NoOutput:    d.NoOutput,
			Workspace:   d.Workspace.String(),
			Tags:        d.Tags,

			ProgressUnit: d.ProgressUnit,
		})
		if d.Timeout > 0 {
			out[len(out)-1].Timeout = d.Timeout.String()
		}
		if d.MinRuntime > 0 {
			out[len(out)-1].MinRuntime = d.MinRuntime.String()
		}
	}
	if out == nil {
		out = []Definition{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"definitions": out})
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	counts, err := s.m.Counts(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"counts": counts, "server_id": s.m.ServerID()})
}

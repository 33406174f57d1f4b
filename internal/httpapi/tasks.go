package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bgtask/bgtask"
)

// SubmitRequest is the body of POST /v1/tasks.
type SubmitRequest struct {
	Name           string   `json:"name"`
	Args           []string `json:"args"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	Priority       string   `json:"priority,omitempty"`
	// Timeout and IdleTimeout are Go durations ("90s", "5m").
	Timeout     string `json:"timeout,omitempty"`
	IdleTimeout string `json:"idle_timeout,omitempty"`
}

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	var req SubmitRequest
	if err := decodeBody(w, r, &req); err != nil {
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
		v, err := time.ParseDuration(d.in)
		if err != nil || v < 0 {
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("%q: want a non-negative duration like \"90s\", got %q", d.field, d.in))
		}
		*d.out = v
	}
	return o, nil
}

// decodeBody reads one JSON object of at most MaxBodyBytes into v,
// rejecting unknown fields and trailing data. The size is checked before
// the syntax: an oversized body is 413 whatever it holds.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength > MaxBodyBytes {
		return &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest(CodeBadRequest, "cannot read body: "+err.Error())
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest(CodeInvalidJSON, "empty body: want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(CodeInvalidJSON, "malformed JSON: "+err.Error())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest(CodeInvalidJSON, "malformed JSON: data after the object")
	}
	return nil
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	info, err := s.m.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := &bgtask.ListOpts{Name: q.Get("name"), IDPrefix: q.Get("id_prefix"), Cursor: q.Get("cursor")}
	if st := q.Get("state"); st != "" {
		state, err := bgtask.ParseState(st)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		opts.State = state
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, badRequest(CodeBadRequest, fmt.Sprintf("limit: want an integer from 1 to 1000, got %q", l)))
			return
		}
		opts.Limit = n
	}
	res, err := s.m.List(r.Context(), opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, s.m.Cancel)
}

func (s *Server) retry(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, s.m.Retry)
}

// control runs Cancel or Retry and answers 202 with the record.
func (s *Server) control(w http.ResponseWriter, r *http.Request, op func(context.Context, string) error) {
	id := r.PathValue("id")
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
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Priority    string   `json:"priority"`
	Parallel    bool     `json:"parallel"`
	Retriable   bool     `json:"retriable"`
	MaxAttempts int      `json:"max_attempts"`
	Timeout     string   `json:"timeout,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// ProgressUnit is the definition's ProgressUnit ("" for steps).
	ProgressUnit string `json:"progress_unit,omitempty"`
}

func (s *Server) definitions(w http.ResponseWriter, r *http.Request) {
	defs := s.m.Registry().Definitions()
	out := make([]Definition, len(defs))
	for i, d := range defs {
		out[i] = Definition{
			Name:        d.Name,
			Description: d.Description,
			Priority:    string(d.EffectivePriority()),
			Parallel:    d.Parallel(),
			Retriable:   d.Retriable,
			MaxAttempts: d.Attempts(),
			Tags:        d.Tags,

			ProgressUnit: d.ProgressUnit,
		}
		if d.Timeout > 0 {
			out[i].Timeout = d.Timeout.String()
		}
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

package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bgtask/bgtask"
)

// stream writes server-sent events.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (s *Server) startStream(w http.ResponseWriter) *stream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	_ = st.rc.SetWriteDeadline(time.Time{}) // streams outlive the server's write timeout
	st.flush()
	return st
}

// streamWriteTimeout bounds one write to an event stream: a client that
// reads nothing for that long is cut off, and resumes with Last-Event-ID
// from the store's event log when it reconnects.
const streamWriteTimeout = time.Minute

func (st *stream) flush() { _ = st.rc.Flush() }

func (st *stream) deadline() { _ = st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }

// event writes one event; id "" writes none (the client's last ID stays).
func (st *stream) event(kind, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	st.deadline()
	if id != "" {
		_, err = fmt.Fprintf(st.w, "event: %s\nid: %s\ndata: %s\n\n", kind, id, data)
	} else {
		_, err = fmt.Fprintf(st.w, "event: %s\ndata: %s\n\n", kind, data)
	}
	st.flush()
	return err
}

func (st *stream) send(ev bgtask.Event) error {
	return st.event(string(ev.Kind), strconv.FormatUint(ev.Seq, 10), ev)
}

func (st *stream) close() {
	st.deadline()
	_, _ = fmt.Fprint(st.w, "event: server_close\ndata: {}\n\n")
	st.flush()
}

func (st *stream) ping() error {
	st.deadline()
	_, err := fmt.Fprint(st.w, ": ping\n\n")
	st.flush()
	return err
}

// lastEventID reads Last-Event-ID (or ?last_event_id= for clients that
// cannot set headers).
func lastEventID(r *http.Request) (uint64, bool, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, badRequest(CodeBadRequest, fmt.Sprintf("Last-Event-ID: want an event sequence number, got %q", v))
	}
	return n, true, nil
}

// taskEvents streams one task: its current state first (event "state"),
// then live events; after the terminal event, "server_close" and the end.
// With Last-Event-ID it replays from the store's event log what the client
// missed instead of the state (the state when the log no longer reaches
// back that far). A stream of a finished task always ends.
func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	after, resuming, err := lastEventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, err := s.m.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !resuming {
		// The state covers every event up to its EventSeq: follow from there.
		after = info.EventSeq
	}
	rd, err := s.m.Follow(r.Context(), &bgtask.SubscribeOpts{TaskID: id, After: after})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)
	st := s.startStream(w)
	if !resuming {
		if st.event("state", "", info) != nil || info.State.Terminal() {
			st.close()
			return
		}
	} else if info.State.Terminal() && after >= info.EventSeq {
		st.close() // the client saw the end already
		return
	}
	s.follow(r, st, rd, id)
}

// allEvents streams every task's events; Last-Event-ID resumes from the
// store's event log ("reset" when it no longer reaches back that far).
func (s *Server) allEvents(w http.ResponseWriter, r *http.Request) {
	after, _, err := lastEventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rd, err := s.m.Follow(r.Context(), &bgtask.SubscribeOpts{After: after})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)
	st := s.startStream(w)
	s.follow(r, st, rd, "")
}

// follow writes events until the client leaves or the manager stops; a
// task stream (taskID set) also ends after the task's terminal event, or
// after its final state when the log could not replay it.
func (s *Server) follow(r *http.Request, st *stream, rd *bgtask.EventReader, taskID string) {
	ctx := r.Context()
	events := make(chan []bgtask.Event)
	errs := make(chan error, 1)
	go func() {
		for {
			evs, err := rd.Next(ctx)
			if err != nil {
				errs <- err
				return
			}
			select {
			case events <- evs:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	ping := time.NewTicker(s.ping)
	defer ping.Stop()
	for {
		select {
		case evs := <-events:
			if end, err := s.sendAll(ctx, st, evs, taskID); end || err != nil {
				return
			}
		case <-errs:
			return // manager stopping or client gone
		case <-ping.C:
			if st.ping() != nil {
				return
			}
		}
	}
}

// sendAll writes a batch; end is true when the stream has ended.
func (s *Server) sendAll(ctx context.Context, st *stream, evs []bgtask.Event, taskID string) (end bool, err error) {
	for _, ev := range evs {
		if ev.Kind == bgtask.EventReset {
			if taskID == "" {
				if err := st.event("reset", strconv.FormatUint(ev.Seq, 10), map[string]uint64{"seq": ev.Seq}); err != nil {
					return true, err
				}
				continue
			}
			// The log lost this task's events: send its state instead.
			info, err := s.m.Get(ctx, taskID)
			if err != nil {
				return true, err
			}
			if err := st.event("state", strconv.FormatUint(ev.Seq, 10), info); err != nil {
				return true, err
			}
			if info.State.Terminal() {
				st.close()
				return true, nil
			}
			continue
		}
		if err := st.send(ev); err != nil {
			return true, err
		}
		if taskID != "" && ev.Kind.Terminal() {
			st.close()
			return true, nil
		}
	}
	return false, nil
}

package httpapi

import (
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

func (st *stream) flush() { _ = st.rc.Flush() }

// event writes one event; id "" writes none (the client's last ID stays).
func (st *stream) event(kind, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
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
	_, _ = fmt.Fprint(st.w, "event: server_close\ndata: {}\n\n")
	st.flush()
}

func (st *stream) ping() error {
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
// With Last-Event-ID it replays what the client missed instead of the
// state, or sends the state if the gap is too old to replay.
func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	after, resuming, err := lastEventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	replayed, complete := 0, false
	ch, stop := s.m.Subscribe(&bgtask.SubscribeOpts{TaskID: id, After: after, Resumed: func(n int, c bool) {
		replayed, complete = n, c
	}})
	defer stop()
	info, err := s.m.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)
	st := s.startStream(w)
	if !resuming || !complete {
		if st.event("state", "", info) != nil {
			return
		}
		if info.State.Terminal() {
			st.close()
			return
		}
	} else if info.State.Terminal() && !s.replayHasEnd(st, ch, replayed) {
		st.close() // the client saw the end already
		return
	}
	s.follow(r, st, ch, true)
}

// replayHasEnd writes the replayed events and reports whether one was
// terminal (then the stream is closed already).
func (s *Server) replayHasEnd(st *stream, ch <-chan bgtask.Event, n int) bool {
	for range n {
		ev, ok := <-ch
		if !ok {
			return false
		}
		if st.send(ev) != nil {
			return true
		}
		if ev.Kind.Terminal() {
			st.close()
			return true
		}
	}
	return false
}

// allEvents streams every task's events; Last-Event-ID resumes.
func (s *Server) allEvents(w http.ResponseWriter, r *http.Request) {
	after, _, err := lastEventID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ch, stop := s.m.Subscribe(&bgtask.SubscribeOpts{After: after})
	defer stop()
	s.streams.Add(1)
	defer s.streams.Add(-1)
	st := s.startStream(w)
	s.follow(r, st, ch, false)
}

// follow writes live events until the client leaves, the subscription
// ends, or (closeOnEnd) a terminal event was sent.
func (s *Server) follow(r *http.Request, st *stream, ch <-chan bgtask.Event, closeOnEnd bool) {
	ping := time.NewTicker(s.ping)
	defer ping.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // manager stopping, or this client fell too far behind
			}
			if st.send(ev) != nil {
				return
			}
			if closeOnEnd && ev.Kind.Terminal() {
				st.close()
				return
			}
		case <-ping.C:
			if st.ping() != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

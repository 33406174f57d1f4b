package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/sse"
)

// stream writes server-sent events. Frames are gathered in buf and go to
// the client with one write and one flush per batch.
type stream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
	// deadline is the write deadline last set.
	deadline time.Time
}

// streamHeaders writes the headers of an event stream.
func streamHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
}

// headStream answers HEAD on a stream route: the headers, and the end (a
// request pipelined after it is answered next). It reports whether r was
// a HEAD.
func headStream(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodHead {
		return false
	}
	streamHeaders(w)
	return true
}

func (s *Server) startStream(w http.ResponseWriter) *stream {
	streamHeaders(w)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	// The request is read: lift ReadTimeout, which would otherwise end the
	// stream (the server's read of the idle connection times out).
	_ = st.rc.SetReadDeadline(time.Time{})
	st.extendDeadline()
	_ = st.rc.Flush()
	return st
}

// streamWriteTimeout bounds one write to an event stream: a client that
// reads nothing for that long is cut off, and resumes with Last-Event-ID
// from the store's event log when it reconnects.
const streamWriteTimeout = time.Minute

// streamBatchWindow is the least time between two writes of one stream:
// events arriving meanwhile go out together, so that a busy server makes
// one write per client per window, not one per event.
const streamBatchWindow = 25 * time.Millisecond

// frame adds one event to the batch.
func (st *stream) frame(kind string, id uint64, data []byte) {
	st.buf = sse.AppendFrame(st.buf, kind, id, data)
}

// commit writes the batch to the client.
func (st *stream) commit() error {
	if len(st.buf) == 0 {
		return nil
	}
	st.extendDeadline()
	_, err := st.w.Write(st.buf)
	st.buf = st.buf[:0]
	if err == nil {
		err = st.rc.Flush()
	}
	return err
}

// extendDeadline moves the write deadline to streamWriteTimeout from now,
// unless it was set less than a second ago (a busy stream writes many
// times a second).
func (st *stream) extendDeadline() {
	now := time.Now()
	if st.deadline.Sub(now) > streamWriteTimeout-time.Second {
		return
	}
	st.deadline = now.Add(streamWriteTimeout)
	_ = st.rc.SetWriteDeadline(st.deadline)
}

// event writes one event without an ID now.
func (st *stream) event(kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	st.buf = sse.AppendFrameNoID(st.buf, kind, data)
	return st.commit()
}

// add adds a task event to the batch, with its shared encoding.
func (st *stream) add(ev bgtask.Event) {
	st.frame(string(ev.Kind), ev.Seq, ev.JSON())
}

// state adds the task's state to the batch as an event "state" with its
// EventSeq as the ID (a client that resumes with it has seen the state).
func (st *stream) state(info *bgtask.TaskInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	st.frame("state", info.EventSeq, data)
	return nil
}

func (st *stream) close() {
	st.buf = sse.AppendFrameNoID(st.buf, "server_close", []byte("{}"))
	_ = st.commit()
}

func (st *stream) ping() error {
	st.buf = append(st.buf, ": ping\n\n"...)
	return st.commit()
}

// notGiven is the position a Last-Event-ID that is not a decimal event
// sequence number stands for: past the head of any log (one would need
// 2^64-1 events to give it), so it is served exactly like a number the
// log did not give (one of another or a wiped store): a task stream sends
// the state, the all-tasks stream a reset, then both follow from now.
const notGiven = math.MaxUint64

// lastEventID reads the position a client resumes after: the header
// Last-Event-ID, else (header absent or empty) the query parameter
// last_event_id (at most once: checkQuery refuses it twice, as any
// parameter), for clients that cannot set headers. ok is false when
// both are empty (a new stream). A value is read as sent, with no trimming
// (HTTP already strips the spaces and tabs around a header's value, not
// those of a query parameter): ASCII digits, 0 to 18446744073709551615,
// are that sequence number; anything else (a sign, a fraction, spaces, a
// number past 2^64-1, any text, of any length) is notGiven, never an
// error: a browser's EventSource stops reconnecting on a non-200 answer
// (the URL it reconnects to is the one it was given: a well-formed query
// stays well-formed).
func lastEventID(r *http.Request) (after uint64, ok bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return notGiven, true
	}
	return n, true
}

// taskEvents streams one task: its current state first (event "state"),
// then live events; after the terminal event, "server_close" and the end.
// With Last-Event-ID it replays from the store's event log what the client
// missed instead of the state (the state when the log no longer reaches
// back that far, when the ID is past the task's end but not its terminal
// event, or when it is not a number: see lastEventID). A stream of a finished task always ends, with the
// terminal event or the final state, then "server_close".
func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request) {
	id := pathTaskID(r)
	after, resuming := lastEventID(r)
	// Last-Event-ID 0 is a client that has seen nothing (or only a reset
	// of an empty log): it gets the state, like a new stream.
	resuming = resuming && after > 0
	info, err := s.m.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if headStream(w, r) {
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
		if st.event("state", info) != nil || info.State.Terminal() {
			st.close()
			return
		}
	} else if info.State.Terminal() && after >= info.EventSeq {
		// after == EventSeq: the client saw the terminal event. A later
		// position is not one this task's stream gave (beyond the log's
		// head, an ID of another or a wiped store, or of another
		// stream): the final state, so that the stream ends with the
		// outcome.
		if after == info.EventSeq || st.state(info) == nil {
			st.close()
		}
		return
	}
	s.follow(r, st, rd, id)
}

// allEvents streams every task's events; Last-Event-ID resumes from the
// store's event log ("reset" when it no longer reaches back that far, or
// the ID is not one it gave: past its head, or not a number).
func (s *Server) allEvents(w http.ResponseWriter, r *http.Request) {
	after, _ := lastEventID(r)
	if headStream(w, r) {
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
	s.followAll(r, st, rd)
}

// streamMaxBatch is about the most bytes of events one write of the
// all-tasks stream carries. A stream that has that much to send writes it
// at once, without waiting out the batch window.
const streamMaxBatch = 128 << 10

// followAll writes every task's events until the client leaves or the
// manager stops. The frames of the events come encoded once for all
// streams (sse.ReadFrames); a stream copies them into its batch, and
// writes and flushes the batch at most once per streamBatchWindow unless
// it is full.
func (s *Server) followAll(r *http.Request, st *stream, rd *bgtask.EventReader) {
	ctx := r.Context()
	nextPing := time.Now().Add(s.ping)
	idle := time.NewTimer(s.ping) // fires at nextPing
	defer idle.Stop()
	window := time.NewTimer(streamBatchWindow)
	defer window.Stop()
	for {
		if now := time.Now(); !now.Before(nextPing) {
			nextPing = now.Add(s.ping)
			idle.Reset(s.ping)
			if st.ping() != nil {
				return
			}
		}
		buf, err := sse.ReadFrames(ctx, rd, st.buf, streamMaxBatch, idle.C)
		st.buf = buf
		if err != nil {
			return // manager stopping, client gone, or the store failed
		}
		if len(st.buf) == 0 {
			continue // nothing came before the ping is due
		}
		full := len(st.buf) >= streamMaxBatch
		if st.commit() != nil {
			return
		}
		if full {
			continue // behind: no window
		}
		// Events arriving meanwhile go out together after the window.
		window.Reset(streamBatchWindow)
		select {
		case <-window.C:
		case <-ctx.Done():
			return
		}
	}
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
	var quiet <-chan time.Time // set while the batch window runs
	for {
		in := events
		if quiet != nil {
			in = nil // wait out the window; events gather meanwhile
		}
		select {
		case evs := <-in:
			if end, err := s.sendAll(ctx, st, evs, taskID); end || err != nil {
				return
			}
			quiet = time.After(streamBatchWindow)
		case <-quiet:
			quiet = nil
		case err := <-errs:
			// The manager stopped (after reading its log to the end:
			// the events it holds were delivered), the client left, or
			// the store failed.
			if errors.Is(err, bgtask.ErrStopped) {
				s.endStopped(st, taskID)
			}
			return
		case <-ping.C:
			if st.ping() != nil {
				return
			}
		}
	}
}

// endStopped ends a task stream whose reader learnt that the manager
// stopped before the task's terminal event came (a reader that fell behind
// the tail's memory, or one that had not read yet): if the task has
// finished, its final state and server_close. A task still ONGOING (handed
// back, or left to be recovered) ends without server_close: the client
// resumes with Last-Event-ID, from this server once it is back or from
// another one sharing the store.
func (s *Server) endStopped(st *stream, taskID string) {
	ctx, cancel := context.WithTimeout(context.Background(), endStoppedTimeout)
	defer cancel()
	info, err := s.m.Get(ctx, taskID)
	if err != nil || !info.State.Terminal() || st.state(info) != nil {
		return
	}
	st.close()
}

// endStoppedTimeout bounds endStopped's read of the record.
const endStoppedTimeout = 5 * time.Second

// sendAll writes a batch; end is true when the stream has ended.
func (s *Server) sendAll(ctx context.Context, st *stream, evs []bgtask.Event, taskID string) (end bool, err error) {
	for _, ev := range evs {
		if ev.Kind == bgtask.EventReset {
			if taskID == "" {
				st.frame("reset", ev.Seq, []byte(fmt.Sprintf(`{"seq":%d}`, ev.Seq)))
				continue
			}
			// The log lost this task's events: send its state instead.
			info, err := s.m.Get(ctx, taskID)
			if err != nil {
				return true, err
			}
			data, err := json.Marshal(info)
			if err != nil {
				return true, err
			}
			st.frame("state", ev.Seq, data)
			if info.State.Terminal() {
				st.close()
				return true, nil
			}
			continue
		}
		st.add(ev)
		if taskID != "" && ev.Kind.Terminal() {
			st.close()
			return true, nil
		}
	}
	return false, st.commit()
}

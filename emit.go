package bgtask

import (
	"context"
	"encoding/json"
	"runtime/debug"

	"github.com/bgtask/bgtask/store"
)

func stack() []byte { return debug.Stack() }

// eventOf builds an event with r's current state.
func (m *Manager) eventOf(r *running, kind EventKind) Event {
	p := r.task.progress.Snapshot()
	return Event{
		Kind:     kind,
		TaskID:   r.rec.ID,
		Name:     r.rec.Name,
		State:    StateOngoing,
		Progress: p,
		Message:  p.Message,
		Attempt:  r.rec.Attempt,
		Time:     m.clock.Now(),
	}
}

// emitFor emits an event of r, serialized with r's other events; nothing
// is emitted once r's events have ended.
func (m *Manager) emitFor(r *running, kind EventKind, fill func(*Event)) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.ended {
		return
	}
	m.emitLocked(r, kind, fill)
}

func (m *Manager) emitLocked(r *running, kind EventKind, fill func(*Event)) {
	ev := m.eventOf(r, kind)
	if fill != nil {
		fill(&ev)
	}
	r.lastSent, r.sent, r.subDirty = ev.Progress, true, false
	m.emit(ev)
}

// emitUpdated emits an updated event if r's progress or subtasks changed
// since the last event.
func (m *Manager) emitUpdated(r *running) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.ended || !m.changedLocked(r) {
		return
	}
	m.emitLocked(r, EventUpdated, nil)
}

func (m *Manager) changedLocked(r *running) bool {
	return !r.sent || r.subDirty || r.task.progress.Snapshot() != r.lastSent
}

// emitFinal delivers the last progress state (if not yet delivered) and
// then the terminal event; r's events end with it.
func (m *Manager) emitFinal(r *running, fill func(*Event)) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.ended {
		return
	}
	if m.changedLocked(r) {
		m.emitLocked(r, EventUpdated, nil)
	}
	m.emitLocked(r, EventDone, fill)
	r.ended = true
}

// endEvents stops r's events without a terminal event (hand-back, lost).
func (m *Manager) endEvents(r *running) {
	r.evMu.Lock()
	r.ended = true
	r.evMu.Unlock()
}

// emitRecord emits a terminal event for a record that is not running here
// (a queued task cancelled, an orphan failed).
func (m *Manager) emitRecord(rec *store.Record, kind EventKind) {
	ev := Event{
		Kind:     kind,
		TaskID:   rec.ID,
		Name:     rec.Name,
		State:    State(rec.State),
		Progress: ProgressInfo(rec.Progress),
		Message:  rec.Progress.Message,
		Attempt:  rec.Attempt,
		Time:     m.clock.Now(),
		Error:    rec.Error,
		ExitCode: rec.ExitCode,
	}
	m.emit(ev)
}

// emit assigns the event its sequence number and delivers it: through the
// store to other servers when the store is shared, and to local
// subscribers.
func (m *Manager) emit(ev Event) {
	if m.exclusive {
		ev.Seq = m.seq.Add(1)
		m.broker.deliver(ev)
		return
	}
	data, err := json.Marshal(ev)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StoreTimeout)
		ev.Seq, err = m.store.Publish(ctx, store.Message{
			Kind:   store.MsgEvent,
			TaskID: ev.TaskID,
			Origin: m.cfg.ServerID,
			Lossy:  ev.Kind == EventUpdated,
			Data:   data,
		})
		cancel()
	}
	if err != nil {
		m.logger.Warn("cannot publish event to other servers", "task_id", ev.TaskID, "kind", ev.Kind, "err", err)
	}
	m.broker.deliver(ev)
}

// deliverRemote hands an event published by another server to local
// subscribers.
func (m *Manager) deliverRemote(msg store.Message) {
	var ev Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		m.logger.Warn("dropping malformed event message", "seq", msg.Seq, "err", err)
		return
	}
	ev.Seq = msg.Seq
	m.broker.deliver(ev)
}

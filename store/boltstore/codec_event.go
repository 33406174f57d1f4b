package boltstore

import (
	"encoding/binary"

	"github.com/bgtask/bgtask/store"
)

// Log entries are stored in the same compact form as records: a version
// byte, then every field in a fixed order (the Seq is the key).
const eventCodecVersion = 1

func encodeEvent(ev *store.Event) []byte {
	n := 96 + len(ev.TaskID) + len(ev.Name) + len(ev.Progress.Message) + len(ev.Error) + len(ev.Owner)
	for k, v := range ev.SubtaskErrors {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, eventCodecVersion)
	b = appendString(b, string(ev.Kind))
	b = appendString(b, ev.TaskID)
	b = appendString(b, ev.Name)
	b = appendString(b, string(ev.State))
	b = appendProgress(b, ev.Progress)
	b = binary.AppendVarint(b, int64(ev.Attempt))
	b = appendTime(b, ev.Time)
	b = appendString(b, ev.Error)
	if ev.ExitCode != nil {
		b = append(b, 1)
		b = binary.AppendVarint(b, int64(*ev.ExitCode))
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ev.SubtaskErrors)))
	for k, v := range ev.SubtaskErrors {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	return appendString(b, ev.Owner)
}

func decodeEvent(seq uint64, b []byte) (store.Event, error) {
	if len(b) == 0 || b[0] != eventCodecVersion {
		return store.Event{}, errCorrupt
	}
	d := &decoder{b: b[1:], all: string(b)}
	ev := store.Event{Seq: seq}
	ev.Kind = store.EventKind(d.string())
	ev.TaskID = d.string()
	ev.Name = d.string()
	ev.State = store.State(d.string())
	ev.Progress = d.progress()
	ev.Attempt = int(d.varint())
	ev.Time = d.time()
	ev.Error = d.string()
	if has := d.bytes(1); d.err == nil && has[0] == 1 {
		c := int(d.varint())
		ev.ExitCode = &c
	}
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return store.Event{}, errCorrupt
		}
		ev.SubtaskErrors = make(map[string]string, n)
		for range n {
			k := d.string()
			ev.SubtaskErrors[k] = d.string()
		}
	}
	ev.Owner = d.string()
	if d.err != nil || len(d.b) != 0 {
		return store.Event{}, errCorrupt
	}
	return ev, nil
}

package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bgtask/bgtask/store"
)

// The script never reads floats: progress travels as a string it copies
// ("cur tot msg", each number in Go's shortest exact form), subtasks as a
// JSON array of [key, state, error, progress] strings, so that every
// float64 round-trips bit for bit.

func encodeProgress(p store.Progress) string {
	if math.Float64bits(p.Current) == 0 && math.Float64bits(p.Total) == 0 && p.Message == "" {
		return ""
	}
	return strconv.FormatFloat(p.Current, 'g', -1, 64) + " " + strconv.FormatFloat(p.Total, 'g', -1, 64) + " " + p.Message
}

func decodeProgress(s string) (store.Progress, error) {
	if s == "" {
		return store.Progress{}, nil
	}
	cur, rest, ok1 := strings.Cut(s, " ")
	tot, msg, ok2 := strings.Cut(rest, " ")
	c, err1 := strconv.ParseFloat(cur, 64)
	t, err2 := strconv.ParseFloat(tot, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return store.Progress{}, fmt.Errorf("redisstore: bad progress %q", s)
	}
	return store.Progress{Current: c, Total: t, Message: msg}, nil
}

func encodeSubtasks(subs []store.Subtask) string {
	rows := make([][4]string, len(subs))
	for i, s := range subs {
		rows[i] = [4]string{s.Key, string(s.State), s.Error, encodeProgress(s.Progress)}
	}
	b, _ := json.Marshal(rows) // strings only: cannot fail
	return string(b)
}

func decodeSubtasks(s string) ([]store.Subtask, error) {
	if s == "" || s == "{}" { // the script's cjson writes an empty array as {}
		return nil, nil
	}
	var rows [][4]string
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, fmt.Errorf("redisstore: bad subtasks: %w", err)
	}
	subs := make([]store.Subtask, len(rows))
	for i, r := range rows {
		p, err := decodeProgress(r[3])
		if err != nil {
			return nil, err
		}
		subs[i] = store.Subtask{Key: r[0], State: store.State(r[1]), Error: r[2], Progress: p}
	}
	return subs, nil
}

// queueKind is a record's queue kind: its priority letter and the JSON
// array of its sorted, distinct tags ("n[]", "i[\"eu\",\"gpu\"]").
func queueKind(r *store.Record) string {
	p := "n"
	if r.Idle() {
		p = "i"
	}
	tags := slices.Compact(slices.Sorted(slices.Values(r.Tags)))
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags)
	return p + string(b)
}

// dataVersion starts the "d" field: the parts of a record the script
// never reads, in a compact binary form.
const dataVersion = 1

func encodeData(r *store.Record) string {
	b := []byte{dataVersion}
	str := func(s string) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Args)))
	for _, a := range r.Args {
		b = str(a)
	}
	b = binary.AppendVarint(b, timeNanos(r.CreatedAt))
	b = binary.AppendVarint(b, int64(r.Timeout))
	b = binary.AppendVarint(b, int64(r.IdleTimeout))
	b = binary.AppendUvarint(b, uint64(len(r.Tags)))
	for _, t := range r.Tags {
		b = str(t)
	}
	b = str(r.Priority)
	return string(b)
}

var errBadData = errors.New("redisstore: bad record data")

type dataReader struct {
	b   []byte
	err error
}

// advance moves past a varint of n bytes (n from binary.Uvarint or
// Varint) and reports whether there was one.
func (d *dataReader) advance(n int) bool {
	if n <= 0 {
		d.err, d.b = errBadData, nil
		return false
	}
	d.b = d.b[n:]
	return true
}

func (d *dataReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if !d.advance(n) {
		return 0
	}
	return v
}

func (d *dataReader) varint() int64 {
	v, n := binary.Varint(d.b)
	if !d.advance(n) {
		return 0
	}
	return v
}

func (d *dataReader) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadData, nil
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dataReader) strs() []string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadData, nil
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func decodeData(s string, r *store.Record) error {
	if s == "" || s[0] != dataVersion {
		return errBadData
	}
	d := &dataReader{b: []byte(s[1:])}
	r.Args = d.strs()
	r.CreatedAt = nanosTime(d.varint())
	r.Timeout = time.Duration(d.varint())
	r.IdleTimeout = time.Duration(d.varint())
	r.Tags = d.strs()
	r.Priority = d.str()
	return d.err
}

// timeNanos is t in Unix nanoseconds, with the zero time as math.MinInt64.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// micros parses a time the script wrote (Unix microseconds; "" is zero).
func micros(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if s == "" || err != nil {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// insertArgs are the script's 10 arguments for one record (see insert in
// lua/3_tasks.lua).
func insertArgs(r *store.Record) []any {
	subs := ""
	if r.Subtasks != nil {
		subs = encodeSubtasks(r.Subtasks)
	}
	return []any{r.ID, r.Name, queueKind(r), encodeData(r), r.IdempotencyKey, r.Owner, r.Incarnation,
		strconv.Itoa(r.MaxAttempts), encodeProgress(r.Progress), subs}
}

// decodeRecord decodes the script's reply for a record: its ID, then
// field/value pairs as stored (pieces not joined, "" for an emptied
// field, z the packed hot fields), a later pair overriding an earlier
// one (see reply in lua/1_records.lua).
func decodeRecord(v any) (*store.Record, error) {
	flat, ok := v.([]any)
	if !ok || len(flat)%2 != 1 {
		return nil, fmt.Errorf("redisstore: bad record reply %T", v)
	}
	id := str(flat[0])
	f := make(map[string]string, len(flat)/2+len(hotFields))
	for i := 1; i < len(flat); i += 2 {
		k, v := str(flat[i]), str(flat[i+1])
		if k != "z" {
			f[k] = v
			continue
		}
		// the packed hot fields, in their place: a later pair wins
		if err := unpackHot(f, v); err != nil {
			return nil, fmt.Errorf("redisstore: record %s: %w", id, err)
		}
	}
	joinChunks(f)
	return recordOf(id, f)
}

// chunked lists the fields the library stores in 64-byte pieces (f, f2,
// f3, ...; see CHUNK in lua/1_records.lua).
const chunked = "dupe"

// joinChunks joins the pieces of chunked fields in f, as HGETALL returns
// them.
func joinChunks(f map[string]string) {
	for _, c := range chunked {
		base := string(c)
		if _, ok := f[base+"2"]; !ok {
			continue
		}
		var b strings.Builder
		b.WriteString(f[base])
		for k := 2; ; k++ {
			piece, ok := f[base+strconv.Itoa(k)]
			if !ok {
				break
			}
			b.WriteString(piece)
		}
		f[base] = b.String()
	}
}

// hotFields are the fields packed in z, joined by '|' (see packhot in
// lua/1_records.lua).
var hotFields = [...]string{"s", "a", "f", "c", "x", "es", "h"}

// unpackHot sets in f the fields packed in z.
func unpackHot(f map[string]string, z string) error {
	if strings.Count(z, "|") != len(hotFields)-1 {
		return fmt.Errorf("bad packed fields %q", z)
	}
	for i, k := range hotFields {
		if i < len(hotFields)-1 {
			f[k], z, _ = strings.Cut(z, "|")
		} else {
			f[k] = z
		}
	}
	return nil
}

// recordOf builds the record id from its hash fields (pieces joined, z
// unpacked).
func recordOf(id string, f map[string]string) (*store.Record, error) {
	// A field emptied by a change may be stored as "" (see save in
	// lua/1_records.lua): the same as absent.
	for k, v := range f {
		if v == "" {
			delete(f, k)
		}
	}
	r := &store.Record{
		ID: id, Name: f["n"], State: store.State(f["s"]), Owner: f["o"], Incarnation: f["i"],
		HeartbeatAt: micros(f["h"]), CancelRequested: f["c"] == "1",
		StartedAt: micros(f["st"]), FinishedAt: micros(f["fi"]), Error: f["e"], IdempotencyKey: f["k"],
	}
	r.Attempt, _ = strconv.Atoi(f["a"])
	r.MaxAttempts, _ = strconv.Atoi(f["m"])
	r.Fence, _ = strconv.ParseUint(f["f"], 10, 64)
	r.EventSeq, _ = strconv.ParseUint(f["es"], 10, 64)
	if x, ok := f["x"]; ok {
		code, err := strconv.Atoi(x)
		if err != nil {
			return nil, fmt.Errorf("redisstore: record %s: bad exit code %q", id, x)
		}
		r.ExitCode = &code
	}
	var err error
	if r.Progress, err = decodeProgress(f["p"]); err != nil {
		return nil, err
	}
	if r.Subtasks, err = decodeSubtasks(f["u"]); err != nil {
		return nil, err
	}
	if err := decodeData(f["d"], r); err != nil {
		return nil, fmt.Errorf("redisstore: record %s: %w", id, err)
	}
	return r, nil
}

// decodeEntry appends to evs the events of one stream entry ("0-SEQ",
// its fields) with a Seq greater than after. An entry is either the
// events of one call (fields f, t and b; see writelog in lua/2_log.lua)
// or, as earlier versions wrote it, one event with its fields as the
// entry's.
func decodeEntry(evs []store.Event, id string, fields map[string]any, after uint64) ([]store.Event, error) {
	body, batch := fields["b"].(string)
	if !batch {
		ev, err := decodeEvent(id, fields)
		if err != nil {
			return evs, err
		}
		if ev.Seq > after {
			evs = append(evs, ev)
		}
		return evs, nil
	}
	_, last, _ := strings.Cut(id, "-")
	lastSeq, err1 := strconv.ParseUint(last, 10, 64)
	seq, err2 := strconv.ParseUint(str(fields["f"]), 10, 64)
	if err1 != nil || err2 != nil || seq == 0 || seq > lastSeq {
		return evs, fmt.Errorf("redisstore: bad log entry %q (first %q)", id, str(fields["f"]))
	}
	t := micros(str(fields["t"]))
	for body != "" {
		var ev store.Event
		ev.Seq, ev.Time = seq, t
		for body != "" && body[0] != '\n' {
			k := 0
			for k < len(body) && body[k] >= 'a' && body[k] <= 'z' {
				k++
			}
			colon := strings.IndexByte(body[k:], ':')
			if k == 0 || colon <= 0 {
				return evs, fmt.Errorf("redisstore: log entry %s: malformed event %d", id, seq)
			}
			n, err := strconv.Atoi(body[k : k+colon])
			start := k + colon + 1
			if err != nil || n < 0 || n > len(body)-start {
				return evs, fmt.Errorf("redisstore: log entry %s: malformed event %d", id, seq)
			}
			if err := setEventField(&ev, body[:k], body[start:start+n]); err != nil {
				return evs, fmt.Errorf("redisstore: log entry %s, event %d: %w", id, seq, err)
			}
			body = body[start+n:]
		}
		if body == "" {
			return evs, fmt.Errorf("redisstore: log entry %s: event %d not terminated", id, seq)
		}
		body = body[1:]
		if seq > after {
			evs = append(evs, ev)
		}
		seq++
	}
	if seq != lastSeq+1 {
		return evs, fmt.Errorf("redisstore: log entry %s holds events %s to %d", id, str(fields["f"]), seq-1)
	}
	return evs, nil
}

// decodeEvent decodes one stream entry of one event ("0-SEQ", its fields),
// as earlier versions wrote them.
func decodeEvent(id string, fields map[string]any) (store.Event, error) {
	var ev store.Event
	_, seq, _ := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return ev, fmt.Errorf("redisstore: bad log entry ID %q", id)
	}
	ev.Seq = n
	for k, v := range fields {
		if err := setEventField(&ev, k, str(v)); err != nil {
			return ev, fmt.Errorf("redisstore: log entry %s: %w", id, err)
		}
	}
	return ev, nil
}

func setEventField(ev *store.Event, k, v string) error {
	var err error
	switch k {
	case "k":
		ev.Kind = store.EventKind(v)
	case "id":
		ev.TaskID = v
	case "n":
		ev.Name = v
	case "s":
		ev.State = store.State(v)
	case "p":
		ev.Progress, err = decodeProgress(v)
	case "a":
		ev.Attempt, err = strconv.Atoi(v)
	case "t":
		ev.Time = micros(v)
	case "e":
		ev.Error = v
	case "x":
		var code int
		code, err = strconv.Atoi(v)
		ev.ExitCode = &code
	case "se":
		err = json.Unmarshal([]byte(v), &ev.SubtaskErrors)
	case "o":
		ev.Owner = v
	}
	return err
}

// str converts a reply value to a string (strings and integers).
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// list converts a reply value to a slice (nil when it is not one).
func list(v any) []any {
	l, _ := v.([]any)
	return l
}

package bgtask

import (
	"encoding/json"
	"fmt"
	"time"
)

// taskInfoFields is TaskInfo without its JSON methods.
type taskInfoFields TaskInfo

// taskInfoJSON is TaskInfo's JSON form: every field as tagged, except
// Timeout, which is a Go duration string ("1m30s"), as durations are
// everywhere in bgtask's flags, environment and API.
type taskInfoJSON struct {
	*taskInfoFields
	Timeout string `json:"timeout,omitempty"`
}

// MarshalJSON encodes the record with its fields' JSON names; the timeout
// is a Go duration string ("1m30s"), absent when 0.
func (t TaskInfo) MarshalJSON() ([]byte, error) {
	out := taskInfoJSON{taskInfoFields: (*taskInfoFields)(&t)}
	if t.Timeout > 0 {
		out.Timeout = t.Timeout.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes MarshalJSON's form. The timeout may also be a
// number of nanoseconds (the form before durations were strings).
func (t *TaskInfo) UnmarshalJSON(b []byte) error {
	var in struct {
		*taskInfoFields
		Timeout json.RawMessage `json:"timeout,omitempty"`
	}
	in.taskInfoFields = (*taskInfoFields)(t)
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	t.Timeout = 0
	if len(in.Timeout) == 0 || string(in.Timeout) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(in.Timeout, &s) == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bgtask: task timeout %q: %w", s, err)
		}
		t.Timeout = d
		return nil
	}
	var ns int64
	if err := json.Unmarshal(in.Timeout, &ns); err != nil {
		return fmt.Errorf("bgtask: task timeout %s: want a duration string", in.Timeout)
	}
	t.Timeout = time.Duration(ns)
	return nil
}

// Package duration is bgtask's one spelling of durations, used by every
// flag, environment variable and API field: a Go duration ("90s", "1m30s",
// "250ms") or a bare number of seconds ("90", "1.5"). Negative durations
// are refused. Durations are written back as Go durations ("1m30s").
package duration

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Syntax describes the accepted spelling, for error messages and help.
const Syntax = "a duration like 90s, 2m or 1h30m, or a number of seconds"

// Parse parses a non-negative duration: a Go duration or a bare number of
// seconds. Surrounding spaces are ignored.
func Parse(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || secs != secs { // NaN
			return 0, errors.New("not " + Syntax)
		}
		if secs > float64(1<<62)/float64(time.Second) || secs < -float64(1<<62)/float64(time.Second) {
			return 0, errors.New("duration too large")
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 {
		return 0, errors.New("duration must not be negative")
	}
	return d, nil
}

// Value is a flag value (pflag.Value) holding a duration in Parse's
// syntax. Set reports whether it was given.
type Value struct {
	D     time.Duration
	IsSet bool
}

// NewValue returns a Value holding def (not counted as set).
func NewValue(def time.Duration) *Value { return &Value{D: def} }

// String returns the duration as a Go duration ("" if unset and zero).
func (v *Value) String() string {
	if v == nil || (!v.IsSet && v.D == 0) {
		return ""
	}
	return v.D.String()
}

// Set parses s with Parse.
func (v *Value) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	v.D, v.IsSet = d, true
	return nil
}

// Type names the value in help texts.
func (v *Value) Type() string { return "duration" }

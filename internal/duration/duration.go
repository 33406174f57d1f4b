// Package duration is bgtask's one spelling of durations, used by every
// flag, environment variable and API field: a Go duration ("90s", "1m30s",
// "250ms") or a bare number of seconds ("90", "1.5"). Negative durations
// are refused. Durations are written back as Go durations ("1m30s").
package duration

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bgtask/bgtask/internal/quote"
)

// Syntax describes the accepted spelling, for error messages and help.
const Syntax = "a duration like 90s, 2m or 1h30m, or a number of seconds like 90 or 1.5"

// Parse's errors wrap one of these; the message quotes the input.
var (
	// ErrSyntax: neither a Go duration nor a bare number of seconds.
	ErrSyntax = errors.New("not " + Syntax)
	// ErrNegative: a "-" before an otherwise valid duration.
	ErrNegative = errors.New("duration must not be negative")
	// ErrTooLarge: a duration above 2^62 ns (about 146 years), in either
	// spelling.
	ErrTooLarge = errors.New("duration too large")
	// ErrTooSmall: a duration that is not zero but under 1 ns
	// ("0.0000000001", "0.5ns"). It would round to 0, which means "none"
	// where a timeout is optional: a positive timeout must not silently
	// become no timeout.
	ErrTooSmall = errors.New("duration under 1ns (not zero, but it would round to zero)")
)

// maxBare bounds a bare number of seconds: 2^62 ns.
const maxBare = time.Duration(1 << 62)

// Parse parses a non-negative duration, strictly:
//
//   - a bare number of seconds is ASCII digits, optionally followed by one
//     "." and more digits: "90", "1.5", "0.25" (not "1.", ".5", "1e9",
//     "1_000", "0x10", "+5");
//   - anything else is a Go duration as time.ParseDuration reads it
//     ("90s", "1m30s", "1.5h", "250ms"), without a sign.
//
// Nothing else is accepted: no sign, no surrounding space. A leading "-"
// before a valid duration is ErrNegative; other mistakes are ErrSyntax;
// ErrTooLarge beyond the range; ErrTooSmall for a value that is not zero
// but under 1 ns. Every error quotes v.
func Parse(v string) (time.Duration, error) {
	d, err := parse(v)
	if err == nil && d == 0 && strings.ContainsAny(v, "123456789") {
		err = ErrTooSmall
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", quote.Q(v), err)
	}
	return d, nil
}

func parse(v string) (time.Duration, error) {
	if rest, ok := strings.CutPrefix(v, "-"); ok {
		if _, err := parse(rest); err == nil || errors.Is(err, ErrTooLarge) {
			return 0, ErrNegative
		}
		return 0, ErrSyntax
	}
	if bareSeconds(v) {
		// The digits are a valid Go duration number: reading v+"s" is
		// exact where a float would round.
		d, err := time.ParseDuration(v + "s")
		if err != nil || d > maxBare {
			return 0, ErrTooLarge
		}
		return d, nil
	}
	if v == "" || !isDigit(v[0]) && v[0] != '.' {
		// time.ParseDuration also takes a leading "+" (and "-", handled
		// above); a space, letter or sign starts no Go duration here.
		return 0, ErrSyntax
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if goDuration.MatchString(v) {
			// Well formed, beyond time.Duration's range: time.ParseDuration
			// says "invalid duration" for both.
			return 0, ErrTooLarge
		}
		return 0, ErrSyntax
	}
	if d > maxBare {
		return 0, ErrTooLarge // one bound for both spellings
	}
	return d, nil
}

// goDuration matches the spelling time.ParseDuration reads (unsigned).
var goDuration = regexp.MustCompile(`^(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// bareSeconds reports whether v is digits, optionally "." and digits.
func bareSeconds(v string) bool {
	whole, frac, dot := strings.Cut(v, ".")
	return allDigits(whole) && (!dot || allDigits(frac))
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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

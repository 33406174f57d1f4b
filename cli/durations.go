package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/bgtask/bgtask/internal/duration"
)

// durationVar defines a duration flag in bgtask's one syntax (a Go
// duration, or a bare number of seconds; see package internal/duration),
// in place of pflag's DurationVar, which refuses "90".
func durationVar(fl *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fl.Var((*durationPtr)(p), name, usage)
}

// durationPtr is a time.Duration as a pflag.Value.
type durationPtr time.Duration

func (d *durationPtr) String() string { return time.Duration(*d).String() }

func (d *durationPtr) Set(s string) error {
	v, err := duration.Parse(s)
	if err != nil {
		return err
	}
	*d = durationPtr(v)
	return nil
}

func (d *durationPtr) Type() string { return "duration" }

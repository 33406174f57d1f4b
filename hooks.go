package bgtask

import (
	"context"
	"time"
)

// Hook observes every attempt of every task a manager runs: BeforeRun just
// before the run function is called, AfterRun once the outcome is
// recorded. Hooks run in the order of Config.Hooks before a run and in
// reverse order after it, on the run's goroutine: keep them fast.
type Hook interface {
	BeforeRun(ctx context.Context, a *AttemptInfo)
	AfterRun(ctx context.Context, a *AttemptInfo, r *AttemptResult)
}

// AttemptInfo describes an attempt to a hook.
type AttemptInfo struct {
	ID        string
	Name      string
	Args      []string
	Attempt   int
	Priority  Priority
	StartedAt time.Time
}

// AttemptResult is how an attempt ended.
type AttemptResult struct {
	// State is the terminal state written, or StateOngoing when the run
	// ended without one (handed back at shutdown, taken over, hard stop).
	State State
	// HandedBack is true when the task was handed back for takeover.
	HandedBack bool
	Error      string
	ExitCode   int
	Duration   time.Duration
}

// HookFuncs adapts a pair of functions to Hook; nil functions are skipped.
type HookFuncs struct {
	Before func(ctx context.Context, a *AttemptInfo)
	After  func(ctx context.Context, a *AttemptInfo, r *AttemptResult)
}

// BeforeRun calls h.Before if set.
func (h HookFuncs) BeforeRun(ctx context.Context, a *AttemptInfo) {
	if h.Before != nil {
		h.Before(ctx, a)
	}
}

// AfterRun calls h.After if set.
func (h HookFuncs) AfterRun(ctx context.Context, a *AttemptInfo, r *AttemptResult) {
	if h.After != nil {
		h.After(ctx, a, r)
	}
}

package bgtask

import (
	"math"
	"sync"
)

// ProgressInfo is a snapshot of a task's progress.
type ProgressInfo struct {
	Current float64 `json:"current"`
	Total   float64 `json:"total"`
	Message string  `json:"message"`
}

// Progress is the progress reporter of one task (Task.Progress). It is safe
// for concurrent use. The manager coalesces bursts of changes: at most about
// ten store writes and `updated` events per second per task, the latest
// state wins, and the final state is always delivered before the terminal
// event. Amounts are finite numbers: a NaN or infinite value (or an Add
// whose sum is not finite) is ignored, the amount keeps its previous
// value, and a non-empty message still replaces the message (JSON, which
// every reader of the progress gets, has no NaN or infinity).
type Progress struct {
	mu       sync.Mutex
	info     ProgressInfo
	onChange func()
}

func newProgress(onChange func()) *Progress {
	return &Progress{onChange: onChange}
}

// SetTotal sets the total amount of work (in any unit; "Task N of M" uses
// the number of steps).
func (p *Progress) SetTotal(total float64) {
	if !finite(total) {
		return
	}
	p.update(func(i *ProgressInfo) { i.Total = total })
}

// Add adds inc (which may be fractional or negative) to the current amount.
// A non-empty msg replaces the message; an empty one keeps it.
func (p *Progress) Add(inc float64, msg string) {
	p.update(func(i *ProgressInfo) {
		if sum := i.Current + inc; finite(sum) {
			i.Current = sum
		}
		if msg != "" {
			i.Message = capText(msg)
		}
	})
}

// Set sets the current amount. A non-empty msg replaces the message; an
// empty one keeps it.
func (p *Progress) Set(cur float64, msg string) {
	p.update(func(i *ProgressInfo) {
		if finite(cur) {
			i.Current = cur
		}
		if msg != "" {
			i.Message = capText(msg)
		}
	})
}

// Snapshot returns the current progress.
func (p *Progress) Snapshot() ProgressInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

func (p *Progress) update(f func(*ProgressInfo)) {
	p.mu.Lock()
	f(&p.info)
	p.mu.Unlock()
	if p.onChange != nil {
		p.onChange()
	}
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// finiteInfo returns p with amounts that are not finite made 0: a record
// or event written by an older version, or by hand, must still encode.
func finiteInfo(p ProgressInfo) ProgressInfo {
	if !finite(p.Current) {
		p.Current = 0
	}
	if !finite(p.Total) {
		p.Total = 0
	}
	return p
}

package bgtask

import "sync"

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
// event.
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
	p.update(func(i *ProgressInfo) { i.Total = total })
}

// Add adds inc (which may be fractional or negative) to the current amount.
// A non-empty msg replaces the message; an empty one keeps it.
func (p *Progress) Add(inc float64, msg string) {
	p.update(func(i *ProgressInfo) {
		i.Current += inc
		if msg != "" {
			i.Message = capText(msg)
		}
	})
}

// Set sets the current amount. A non-empty msg replaces the message; an
// empty one keeps it.
func (p *Progress) Set(cur float64, msg string) {
	p.update(func(i *ProgressInfo) {
		i.Current = cur
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

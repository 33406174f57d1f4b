package idle

import (
	"sync"
	"sync/atomic"
	"time"
)

// LoadSource tells the scheduler whether the process has foreground work.
// The scheduler starts an idle period only while no source is Busy, ends it
// early (TimeRemaining drops to 0) as soon as one is, and caps its deadline
// by the earliest NextBusy.
//
// Busy and NextBusy are called often — from every TimeRemaining call — and
// from any goroutine, so they must be cheap (an atomic load) and safe for
// concurrent use.
type LoadSource interface {
	// Busy reports whether foreground work is running now.
	Busy() bool
	// NextBusy returns the time foreground work is known or expected to
	// start next (the analogue of the browser's next timer or frame), and
	// false if there is none.
	NextBusy() (time.Time, bool)
	// Watch registers f to be called whenever Busy or NextBusy may have
	// changed, so that the scheduler reacts without polling, and returns a
	// function that unregisters it. f is cheap and never blocks; it may be
	// called from any goroutine, also spuriously.
	Watch(f func()) (stop func())
}

// watchers is the Watch half of a LoadSource: a copy-on-write list of
// functions, so that notify is lock-free. onFirst and onLast, if set, run
// when the first watcher registers and when the last one leaves (a sampling
// source starts and stops its sampler there).
type watchers struct {
	mu      sync.Mutex
	list    atomic.Pointer[[]*func()]
	onFirst func()
	onLast  func()
}

func (w *watchers) add(f func()) (stop func()) {
	p := &f
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.load()
	w.list.Store(appendCopy(old, p))
	if len(old) == 0 && w.onFirst != nil {
		w.onFirst()
	}
	var once sync.Once
	return func() { once.Do(func() { w.remove(p) }) }
}

func (w *watchers) remove(p *func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var kept []*func()
	for _, q := range w.load() {
		if q != p {
			kept = append(kept, q)
		}
	}
	w.list.Store(&kept)
	if len(kept) == 0 && w.onLast != nil {
		w.onLast()
	}
}

func (w *watchers) load() []*func() {
	if p := w.list.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *watchers) notify() {
	for _, f := range w.load() {
		(*f)()
	}
}

func appendCopy(s []*func(), p *func()) *[]*func() {
	out := make([]*func(), 0, len(s)+1)
	out = append(append(out, s...), p)
	return &out
}

// Counter is a LoadSource driven by the program: it counts running
// foreground jobs (the task manager's normal-priority tasks, say) and is
// busy while the count is at least its threshold. It can also carry a known
// next busy time (SetNextBusy), such as the start of a scheduled job.
//
// A Counter is safe for concurrent use; Add costs one atomic add, plus a
// notification when Busy flips.
type Counter struct {
	threshold int64
	n         atomic.Int64
	next      atomic.Pointer[time.Time]
	w         watchers
}

// NewCounter returns a Counter that is busy while its value is at least
// threshold; a threshold below 1 means 1.
func NewCounter(threshold int) *Counter {
	return &Counter{threshold: int64(max(threshold, 1))}
}

// Add adds delta (which may be negative) to the count.
func (c *Counter) Add(delta int) {
	n := c.n.Add(int64(delta))
	if old := n - int64(delta); (old >= c.threshold) != (n >= c.threshold) {
		c.w.notify()
	}
}

// Inc adds 1: a foreground job started.
func (c *Counter) Inc() { c.Add(1) }

// Dec subtracts 1: a foreground job ended.
func (c *Counter) Dec() { c.Add(-1) }

// Value returns the count.
func (c *Counter) Value() int { return int(c.n.Load()) }

// Busy reports whether the count is at least the threshold.
func (c *Counter) Busy() bool { return c.n.Load() >= c.threshold }

// SetNextBusy announces that foreground work will start at t; the zero time
// withdraws the announcement. Idle deadlines do not extend past t.
func (c *Counter) SetNextBusy(t time.Time) {
	if t.IsZero() {
		c.next.Store(nil)
	} else {
		c.next.Store(&t)
	}
	c.w.notify()
}

// NextBusy returns the time set by SetNextBusy.
func (c *Counter) NextBusy() (time.Time, bool) {
	if p := c.next.Load(); p != nil {
		return *p, true
	}
	return time.Time{}, false
}

// Watch registers f to be called when Busy flips or the next busy time
// changes.
func (c *Counter) Watch(f func()) (stop func()) { return c.w.add(f) }

package idle

import "time"

// Deadline is what a callback receives: how long it may keep working, and
// whether it runs because its timeout expired. It is the IdleDeadline of
// requestIdleCallback.
//
// A Deadline is read live: TimeRemaining drops to 0 as soon as a load
// source reports foreground work, or when a source announces a busy time
// that is now, even in the middle of a callback. A CPU-heavy callback should
// therefore check TimeRemaining often (every few tens of microseconds of
// work) and return when it reaches 0; the rest of its work belongs in a new
// Request.
type Deadline interface {
	// TimeRemaining returns how long the callback may still run in this idle
	// period: the time to min(period start + MaxPeriod, the earliest busy
	// time a source announced), or 0 if a source is busy now, the deadline
	// has passed, the callback runs because it timed out, or the scheduler
	// is stopping (Stop was called or Start's context ended). Never
	// negative.
	// It may be called from any goroutine, also after the callback returned.
	TimeRemaining() time.Duration
	// DidTimeout reports whether the callback runs because its
	// RequestOpts.Timeout expired rather than in an idle period.
	DidTimeout() bool
}

// deadline implements Deadline. It is written before the callback runs and
// never changes after.
type deadline struct {
	s          *Scheduler
	r          *run      // the goroutine's life it runs in: 0 once it is stopped
	start, end time.Time // the idle period; zero when timedOut
	timedOut   bool
}

func (d *deadline) TimeRemaining() time.Duration {
	if d.timedOut || d.r.stopped() {
		return 0
	}
	return d.s.remaining(d.start, d.end)
}

func (d *deadline) DidTimeout() bool { return d.timedOut }

// remaining computes the live time left in the idle period [start, end]: 0
// while any source is busy; otherwise up to end, capped by every busy time
// announced after start (an announcement already due when the period began
// is stale and ignored, see periodEnd).
func (s *Scheduler) remaining(start, end time.Time) time.Duration {
	return s.remainingAt(s.clock.Now(), start, end)
}

// remainingAt is remaining as of now.
func (s *Scheduler) remainingAt(now, start, end time.Time) time.Duration {
	for _, src := range s.sources {
		if src.Busy() {
			return 0
		}
		if t, ok := src.NextBusy(); ok && t.After(start) && t.Before(end) {
			end = t
		}
	}
	left := end.Sub(now)
	if left < 0 {
		return 0
	}
	return left
}

// periodEnd returns the deadline of an idle period that starts at now:
// now + MaxPeriod, capped by the earliest busy time a source announces that
// is still ahead. A busy time at or before now is stale (the announced work
// did not show up as Busy) and does not shorten the period.
func (s *Scheduler) periodEnd(now time.Time) time.Time {
	end := now.Add(s.maxPeriod)
	for _, src := range s.sources {
		if t, ok := src.NextBusy(); ok && t.After(now) && t.Before(end) {
			end = t
		}
	}
	return end
}

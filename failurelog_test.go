package bgtask

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/clock"
)

// A store outage logs its first failure, then summaries ever further
// apart (5 s, 10 s, 20 s, 40 s, then every minute), then one line when
// the calls work again.
func TestFailureLogBoundsLines(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	c := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	l := newFailureLog("cannot write progress; will retry", "progress writes work again")
	err := errors.New("connection refused")
	// Ten minutes of failures, one every 100 ms (6000 failures).
	for range 6000 {
		l.failed(logger, c, "err", err)
		c.Advance(100 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 1 first + summaries at 5, 15, 35, 75 s, then each minute to 600 s
	// (135, 195, ..., 555): 1 + 4 + 8.
	if len(lines) != 13 {
		t.Fatalf("%d lines for 10 minutes of failures, want 13:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], `msg="cannot write progress; will retry"`) || strings.Contains(lines[0], "failures=") {
		t.Errorf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "still failing") || !strings.Contains(lines[1], "failures=50 ") || !strings.Contains(lines[1], "connection refused") {
		t.Errorf("first summary %q: want the 50 failures of 5 s and the error", lines[1])
	}
	buf.Reset()
	l.ok(logger, c)
	l.ok(logger, c)
	if got := strings.Count(buf.String(), "\n"); got != 1 || !strings.Contains(buf.String(), `msg="progress writes work again"`) || !strings.Contains(buf.String(), "failures=6000") {
		t.Fatalf("after recovery: %q, want one line with the outage's 6000 failures", buf.String())
	}
	// A new outage is logged at once again.
	buf.Reset()
	l.failed(logger, c, "err", err)
	if !strings.Contains(buf.String(), "will retry") {
		t.Fatalf("new outage not logged: %q", buf.String())
	}
}

// A failure long after the previous one (the service stopped calling the
// store meanwhile, so it never saw it recover) is a new outage: logged at
// once, as a first failure.
func TestFailureLogNewOutageAfterAGap(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	c := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	l := newFailureLog("cannot renew leases", "lease renewals work again")
	l.failed(logger, c, "err", "x")
	c.Advance(10 * time.Minute)
	buf.Reset()
	l.failed(logger, c, "err", "x")
	if line := buf.String(); !strings.Contains(line, `msg="cannot renew leases"`) || strings.Contains(line, "still failing") {
		t.Fatalf("failure after a 10-minute gap logged %q, want a first-failure line", line)
	}
}

package bgtask_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/bgtask/bgtask"
)

// lockedBuffer is a bytes.Buffer safe for the manager's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A finished task is logged at debug level with its ID, and only when the
// logger takes debug lines.
func TestTaskFinishedLoggedAtDebugOnly(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var buf lockedBuffer
			e := setup(t, []bgtask.Definition{{Name: "noop", Run: func(context.Context, *bgtask.Task) error { return nil }}},
				&bgtask.Config{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level}))})
			id := e.submit("noop")
			e.waitState(id, bgtask.StateSuccess)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := e.m.Stop(ctx); err != nil { // waits for the run to end, log line included
				t.Fatalf("Stop: %v", err)
			}
			logged := strings.Contains(buf.String(), `msg="task finished"`) && strings.Contains(buf.String(), "task_id="+id)
			if want := level == slog.LevelDebug; logged != want {
				t.Fatalf("task finished logged = %t, want %t; log:\n%s", logged, want, buf.String())
			}
		})
	}
}

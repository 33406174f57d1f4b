package bgtask_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
)

// The library took arguments and idempotency keys that are not valid
// UTF-8, which the HTTP API refuses: every reader (JSON) then showed
// U+FFFD where the task got other bytes. Refused alike, nothing stored.
func TestSubmitRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{quick("q")}, nil)
	ctx := context.Background()
	if _, err := e.m.Submit(ctx, "q", []string{"ok", "\xff"}, nil); !errors.Is(err, bgtask.ErrInvalidArgument) {
		t.Errorf("Submit with an argument \\xff: %v, want ErrInvalidArgument", err)
	}
	if _, err := e.m.Submit(ctx, "q", nil, &bgtask.SubmitOpts{IdempotencyKey: "k\xc3"}); !errors.Is(err, bgtask.ErrInvalidArgument) {
		t.Errorf("Submit with a key k\\xc3: %v, want ErrInvalidArgument", err)
	}
	if _, err := e.m.SubmitMany(ctx, []bgtask.SubmitParams{{Name: "q"}, {Name: "q", Args: []string{"\xed\xa0\x80"}}}); !errors.Is(err, bgtask.ErrInvalidArgument) {
		t.Errorf("SubmitMany with a surrogate half: %v, want ErrInvalidArgument", err)
	}
	if res, err := e.m.List(ctx, nil); err != nil || len(res.Tasks) != 0 {
		t.Fatalf("%v records after refused submissions (%v), want none", res, err)
	}
	if _, err := e.m.Submit(ctx, "q", []string{"héllo", "日本"}, nil); err != nil {
		t.Fatalf("valid UTF-8: %v", err)
	}
}

// An idle timeout on a task of normal priority was accepted and ignored
// (the task waits for no idle period): refused now.
func TestIdleTimeoutOfANormalTaskRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, []bgtask.Definition{quick("q")}, nil)
	ctx := context.Background()
	if _, err := e.m.Submit(ctx, "q", nil, &bgtask.SubmitOpts{IdleTimeout: time.Second}); !errors.Is(err, bgtask.ErrInvalidArgument) {
		t.Errorf("IdleTimeout on a normal task: %v, want ErrInvalidArgument", err)
	}
	if _, err := e.m.Submit(ctx, "q", nil, &bgtask.SubmitOpts{Priority: bgtask.PriorityIdle, IdleTimeout: time.Second}); err != nil {
		t.Errorf("IdleTimeout on an idle task: %v", err)
	}
}

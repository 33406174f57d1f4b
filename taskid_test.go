package bgtask_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bgtask/bgtask"
)

// A task ID is a UUID, and UUIDs are case-insensitive: every method that
// takes one accepts it in any form uuid.Parse does (upper case, braces,
// urn:uuid:), as the HTTP API does, and finds the same task. Before, the
// library looked up the exact string: an ID copied in upper case was "not
// found", a cancel of it was lost, and a subscription to it never saw an
// event.
func TestTaskIDsInAnyCase(t *testing.T) {
	t.Parallel()
	g := newGate()
	e := setup(t, []bgtask.Definition{
		{Name: "wait", Run: g.run},
		{
			Name:     "par",
			Subtasks: func(context.Context, *bgtask.Task) ([]string, error) { return []string{"a"}, nil },
			RunSubtask: func(_ context.Context, t *bgtask.Task) error {
				if t.Attempt() == 1 {
					return errors.New("a failed")
				}
				return nil
			},
		},
	}, nil)
	t.Cleanup(g.open)
	ctx := context.Background()
	id := e.submit("wait")
	g.waitEntered(t)
	forms := map[string]string{
		"upper":  strings.ToUpper(id),
		"braces": "{" + id + "}",
		"urn":    "urn:uuid:" + strings.ToUpper(id),
	}
	for form, other := range forms {
		info, err := e.m.Get(ctx, other)
		if err != nil || info.ID != id {
			t.Fatalf("Get(%s form): %v, %+v", form, err, info)
		}
	}
	res, err := e.m.List(ctx, &bgtask.ListOpts{IDPrefix: strings.ToUpper(id[:8])})
	if err != nil || len(res.Tasks) != 1 || res.Tasks[0].ID != id {
		t.Fatalf("List with an upper-case prefix: %v, %+v", err, res)
	}
	f := e.follow(forms["upper"])
	if err := e.m.Cancel(ctx, forms["urn"]); err != nil {
		t.Fatalf("Cancel(urn form): %v", err)
	}
	f.until(bgtask.EventCancelled)
	e.waitState(id, bgtask.StateCancelled)

	par := e.submit("par")
	e.waitState(par, bgtask.StateFailure)
	if err := e.m.Retry(ctx, strings.ToUpper(par)); err != nil {
		t.Fatalf("Retry(upper form): %v", err)
	}
	e.waitState(par, bgtask.StateSuccess)

	// What is not a task ID in any form is still simply not found.
	for _, bad := range []string{"", "nope", id + "x", strings.ToUpper(id) + " "} {
		if _, err := e.m.Get(ctx, bad); !errors.Is(err, bgtask.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", bad, err)
		}
	}
}

package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

var messageTests = []test{
	{"PubSub/OrderAndSeq", testPubSubOrder},
	{"PubSub/OnlyAfterSubscribe", testPubSubAfterSubscribe},
	{"PubSub/SlowSubscriberKeepsNonLossy", testPubSubSlow},
	{"PubSub/StopClosesChannel", testPubSubStop},
	{"Close/ErrClosed", testClose},
}

// waitTimeout bounds every wait for a message; the suite never sleeps.
const waitTimeout = 10 * time.Second

func recv(t *testing.T, ch <-chan store.Message) store.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription channel closed early")
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message within %v", waitTimeout)
	}
	panic("unreachable")
}

// recvKind returns the next message of kind k, skipping others.
func recvKind(t *testing.T, ch <-chan store.Message, k store.MessageKind) store.Message {
	t.Helper()
	for {
		if m := recv(t, ch); m.Kind == k {
			return m
		}
	}
}

func mustPublish(t *testing.T, s store.Store, m store.Message) uint64 {
	t.Helper()
	seq, err := s.Publish(t.Context(), m)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return seq
}

func testPubSubOrder(t *testing.T, s store.Store) {
	ch1, stop1 := s.Subscribe(t.Context())
	defer stop1()
	ch2, stop2 := s.Subscribe(t.Context())
	defer stop2()
	kinds := []store.MessageKind{store.MsgEvent, store.MsgEnqueued, store.MsgCancel}
	var sent []store.Message
	for i := range 100 {
		m := store.Message{Kind: kinds[i%3], TaskID: NewID(), Origin: "srv-a", Owner: fmt.Sprint("o", i), Lossy: i%2 == 0, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
		m.Seq = mustPublish(t, s, m)
		if len(sent) > 0 && m.Seq <= sent[len(sent)-1].Seq {
			t.Fatalf("Publish returned seq %d after %d, want strictly increasing", m.Seq, sent[len(sent)-1].Seq)
		}
		sent = append(sent, m)
	}
	for _, ch := range []<-chan store.Message{ch1, ch2} {
		var got []store.Message
		for range sent {
			got = append(got, recv(t, ch))
		}
		if d := cmp.Diff(sent, got); d != "" {
			t.Fatalf("received messages (-published +received):\n%s", d)
		}
	}
}

func testPubSubAfterSubscribe(t *testing.T, s store.Store) {
	mustPublish(t, s, store.Message{Kind: store.MsgEvent, TaskID: "before"})
	ch, stop := s.Subscribe(t.Context())
	defer stop()
	mustPublish(t, s, store.Message{Kind: store.MsgEvent, TaskID: "after"})
	if m := recv(t, ch); m.TaskID != "after" {
		t.Fatalf("first message after Subscribe is %q, want the one published after it", m.TaskID)
	}
}

func testPubSubSlow(t *testing.T, s store.Store) {
	ch, stop := s.Subscribe(t.Context())
	defer stop()
	// The subscriber reads nothing while 20,000 messages go out; the
	// publisher must not block on it.
	const n = 20_000
	published := make(chan error, 1)
	go func() {
		for i := range n {
			m := store.Message{Kind: store.MsgEvent, TaskID: fmt.Sprint(i), Lossy: i%10 != 0 && i != n-1}
			if _, err := s.Publish(t.Context(), m); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}
	// Every non-lossy message arrives, in order; lossy ones may be lost.
	var want []string
	for i := 0; i < n; i += 10 {
		want = append(want, fmt.Sprint(i))
	}
	want = append(want, fmt.Sprint(n-1))
	var last uint64
	for k := 0; k < len(want); {
		m := recv(t, ch)
		if m.Seq <= last {
			t.Fatalf("seq %d after %d, want strictly increasing", m.Seq, last)
		}
		last = m.Seq
		if m.Lossy {
			continue
		}
		if m.TaskID != want[k] {
			t.Fatalf("non-lossy message %s arrived when %s was due (lost or reordered)", m.TaskID, want[k])
		}
		k++
	}
}

func testPubSubStop(t *testing.T, s store.Store) {
	ch, stop := s.Subscribe(t.Context())
	mustPublish(t, s, store.Message{Kind: store.MsgEvent, TaskID: "x"})
	stop()
	stop() // twice is fine
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				// Publishing after stop is fine too.
				mustPublish(t, s, store.Message{Kind: store.MsgEvent})
				return
			}
		case <-timeout:
			t.Fatal("stop did not close the channel")
		}
	}
}

func testClose(t *testing.T, s store.Store) {
	r := Owned("job", "s1", At(0))
	mustInsert(t, s, r)
	ch, stop := s.Subscribe(t.Context())
	defer stop()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Open subscriptions end.
	timeout := time.After(waitTimeout)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-timeout:
			t.Fatal("Close did not close an open subscription")
		}
	}
	ctx := t.Context()
	calls := map[string]func() error{
		"Insert": func() error { _, err := s.Insert(ctx, []*store.Record{NewRecord("job")}); return err },
		"Get":    func() error { _, err := s.Get(ctx, r.ID); return err },
		"List":   func() error { _, err := s.List(ctx, store.ListParams{}); return err },
		"Counts": func() error { _, err := s.Counts(ctx); return err },
		"Claim": func() error {
			_, err := s.Claim(ctx, store.ClaimParams{Owner: "s", Names: []string{"job"}, Limit: 1, Now: At(0)})
			return err
		},
		"Heartbeat": func() error { _, err := s.Heartbeat(ctx, "s1", []string{r.ID}, At(0)); return err },
		"Update":    func() error { _, err := s.Update(ctx, "s1", []store.Patch{{ID: r.ID}}); return err },
		"Finish": func() error {
			_, err := s.Finish(ctx, "s1", r.ID, store.Completion{State: store.Success})
			return err
		},
		"Release":        func() error { return s.Release(ctx, "s1", []string{r.ID}) },
		"RequestCancel":  func() error { _, err := s.RequestCancel(ctx, r.ID, At(0)); return err },
		"Retry":          func() error { _, err := s.Retry(ctx, r.ID, At(0)); return err },
		"DeleteFinished": func() error { _, err := s.DeleteFinished(ctx, At(0), 10); return err },
		"Publish":        func() error { _, err := s.Publish(ctx, store.Message{Kind: store.MsgEvent}); return err },
		"Close":          s.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	// Subscribe after Close returns a closed channel.
	ch2, stop2 := s.Subscribe(ctx)
	defer stop2()
	select {
	case _, ok := <-ch2:
		if ok {
			t.Fatal("Subscribe after Close delivered a message")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Subscribe after Close returned an open channel")
	}
}

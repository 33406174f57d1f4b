package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/demo"
	"github.com/bgtask/bgtask/store/boltstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The demo tasks do what serve --demo promises.
func TestDemoTasks(t *testing.T) {
	st, err := boltstore.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := bgtask.NewManager(&bgtask.Config{Registry: demo.Registry(), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background())
	ctx := context.Background()
	submit := func(name string, args ...string) string {
		id, err := m.Submit(ctx, name, args, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	wait := func(id string) *bgtask.TaskInfo {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			info, err := m.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Terminal() {
				return info
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("task %s did not end", id)
		return nil
	}
	for _, name := range []string{"demo.decode", "demo.idle-decode"} {
		info := wait(submit(name, "5"))
		if info.State != bgtask.StateSuccess || info.Progress.Current != 5 || info.Progress.Total != 5 {
			t.Errorf("%s 5: %+v", name, info)
		}
	}
	if _, err := m.Submit(ctx, "demo.decode", []string{"lots"}, nil); err != nil {
		t.Fatal(err) // accepted; the task itself rejects the argument
	}
	par := submit("demo.parallel")
	fail := submit("demo.fail")
	info := wait(par)
	if info.State != bgtask.StateSuccess || len(info.Subtasks) != 6 || info.Subtasks[3].State != bgtask.StateFailure {
		t.Fatalf("demo.parallel: %+v", info)
	}
	if err := m.Retry(ctx, par); err != nil {
		t.Fatal(err)
	}
	if info = wait(par); info.Attempt != 2 || info.Subtasks[3].State != bgtask.StateSuccess {
		t.Fatalf("demo.parallel after retry: %+v", info)
	}
	if info := wait(fail); info.State != bgtask.StateFailure || !strings.Contains(info.Error, "503") {
		t.Fatalf("demo.fail: %+v", info)
	}
	slow := submit("demo.slow")
	if err := m.Cancel(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if info := wait(slow); info.State != bgtask.StateCancelled {
		t.Fatalf("demo.slow cancelled: %+v", info)
	}
	if d, ok := demo.Registry().Lookup("demo.slow"); !ok || !d.Retriable {
		t.Fatal("demo.slow is not retriable")
	}
}

package boltstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/boltstore"
	"github.com/bgtask/bgtask/store/storetest"
)

const crashEnv = "BOLTSTORE_CRASH_CHILD_DIR"

// crashChild, in the child process of TestCrashKeepsAcknowledgedWrites,
// writes to the store until it is killed and prints a line for every
// write acknowledged: "I id" after Insert returned, "F id" after Finish
// returned. It reports whether this process is that child.
func crashChild() bool {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return false
	}
	s, err := boltstore.New(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex // one line per write(2)
	say := func(kind, id string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, "%s %s\n", kind, id)
	}
	for g := range 8 {
		go func() {
			owner := fmt.Sprint("child-", g)
			for i := 0; ; i++ {
				recs := []*store.Record{storetest.NewRecord("job")}
				if i%4 == 0 { // a batch now and then
					for range 9 {
						recs = append(recs, storetest.NewRecord("job"))
					}
				}
				if _, err := s.Insert(context.Background(), recs); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				for _, r := range recs {
					say("I", r.ID)
				}
				if i%3 != 0 {
					continue
				}
				cl, err := s.Claim(context.Background(), store.ClaimParams{Owner: owner, Incarnation: owner, Names: []string{"job"}, Limit: 1})
				if err != nil || len(cl) == 0 {
					continue
				}
				if i%2 == 0 { // leave some running: orphans at the next start
					continue
				}
				res, err := s.Finish(context.Background(), []store.Completion{{Lease: cl[0].Lease, State: store.Success}})
				if err == nil {
					err = res[0].Err
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				say("F", cl[0].Record.ID)
			}
		}()
	}
	select {}
}

// TestCrashKeepsAcknowledgedWrites kills a writing process with SIGKILL
// and checks that every write it had acknowledged is in the file.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inserted := map[string]bool{}
	finished := map[string]bool{}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		kind, id, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad line from child: %q", sc.Text())
		}
		if kind == "I" {
			inserted[id] = true
		} else {
			finished[id] = true
		}
		// Kill it mid-flight; lines already in the pipe were acknowledged
		// before the kill and are read to the end.
		if !killed && len(inserted) >= 3000 && len(finished) >= 100 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed: %v", err)
	}

	s := open(t, dir)
	for id := range inserted {
		r, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("acknowledged insert %s lost after SIGKILL: %v", id, err)
		}
		if finished[id] && r.State != store.Success {
			t.Fatalf("acknowledged finish of %s lost after SIGKILL: state %s", id, r.State)
		}
	}
	c, err := s.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := c[store.Ongoing] + c[store.Success]; got < len(inserted) {
		t.Fatalf("counts after crash: %v, fewer than the %d acknowledged records", c, len(inserted))
	}
	// Records running at the crash belong to incarnations of a dead
	// process: the next process recovers them at once, whatever their
	// server ID.
	running := 0
	p := store.ListParams{State: store.Ongoing, Limit: 1000}
	for range 10_000 {
		page, err := s.List(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.Owner != "" {
				running++
			}
		}
		if p.Cursor = page.NextCursor; p.Cursor == "" {
			break
		}
	}
	cl, err := s.Recover(t.Context(), store.ClaimParams{Owner: "next", Incarnation: "next/1", Names: []string{"job"}, Limit: 100_000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if running == 0 || len(cl) != running {
		t.Fatalf("Recover after the crash took %d records; %d were running", len(cl), running)
	}
	t.Logf("%d inserts and %d finishes acknowledged before SIGKILL; %d runs recovered", len(inserted), len(finished), len(cl))
}

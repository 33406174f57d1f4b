package metrics_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/metrics"
)

func TestHookSeries(t *testing.T) {
	t.Parallel()
	h, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	run(h, "alpha", success(500*time.Microsecond))
	run(h, "alpha", success(time.Millisecond)) // on a bound: counted in it
	run(h, "alpha", success(3*time.Second))
	run(h, "alpha", bgtask.AttemptResult{State: bgtask.StateFailure, Duration: 2 * time.Hour})
	run(h, "alpha", bgtask.AttemptResult{State: bgtask.StateOngoing, HandedBack: true, Duration: 20 * time.Millisecond})
	run(h, "beta", bgtask.AttemptResult{State: bgtask.StateOngoing, Duration: 100 * time.Millisecond})
	run(h, "gamma", bgtask.AttemptResult{State: bgtask.StateCancelled})
	h.BeforeRun(context.Background(), &bgtask.AttemptInfo{Name: "beta"})

	text := scrape(t, h)
	lint(t, text)
	mfs := parse(t, text)

	wantFamilies := map[string]string{
		"bgtask_task_duration_seconds": "HISTOGRAM Duration of task attempts.",
		"bgtask_tasks_finished_total":  "COUNTER Task attempts ended, by resulting state.",
		"bgtask_tasks_running":         "GAUGE Task attempts running now.",
		"bgtask_tasks_started_total":   "COUNTER Task attempts started.",
	}
	if diff := cmp.Diff(wantFamilies, families(mfs)); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
	want := map[string]float64{
		`bgtask_tasks_started_total{task="alpha"}`: 5,
		`bgtask_tasks_started_total{task="beta"}`:  2,
		`bgtask_tasks_started_total{task="gamma"}`: 1,
		`bgtask_tasks_running{task="alpha"}`:       0,
		`bgtask_tasks_running{task="beta"}`:        1,
		`bgtask_tasks_running{task="gamma"}`:       0,

		`bgtask_tasks_finished_total{state="SUCCESS",task="alpha"}`:     3,
		`bgtask_tasks_finished_total{state="FAILURE",task="alpha"}`:     1,
		`bgtask_tasks_finished_total{state="HANDED_BACK",task="alpha"}`: 1,
		`bgtask_tasks_finished_total{state="ABANDONED",task="beta"}`:    1,
		`bgtask_tasks_finished_total{state="CANCELLED",task="gamma"}`:   1,
	}
	//                                 0.001 .004 .016 .064 .256 1.02 4.10 16.4 65.5  262 1049 4194 +Inf
	hist(want, "alpha", "SUCCESS", 3.0015, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3)
	hist(want, "alpha", "FAILURE", 7200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
	hist(want, "alpha", "HANDED_BACK", 0.02, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	hist(want, "beta", "ABANDONED", 0.1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	hist(want, "gamma", "CANCELLED", 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	if diff := cmp.Diff(want, samples(mfs), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

// hist adds to want the series of one duration histogram: its sum and its
// cumulative bucket counts, +Inf last.
func hist(want map[string]float64, task, state string, sum float64, cum ...uint64) {
	bounds := metrics.DurationBuckets()
	if len(cum) != len(bounds)+1 {
		panic("hist: want one count per bucket and +Inf")
	}
	labels := fmt.Sprintf("state=%q,task=%q", state, task)
	for i, ub := range bounds {
		want[fmt.Sprintf("bgtask_task_duration_seconds_bucket{%s,le=%q}", labels, fmt.Sprint(ub))] = float64(cum[i])
	}
	count := float64(cum[len(bounds)])
	want[fmt.Sprintf("bgtask_task_duration_seconds_bucket{%s,le=\"+Inf\"}", labels)] = count
	want["bgtask_task_duration_seconds_sum{"+labels+"}"] = sum
	want["bgtask_task_duration_seconds_count{"+labels+"}"] = count
}

func TestDurationBucketsMatchClientGolang(t *testing.T) {
	t.Parallel()
	if diff := cmp.Diff(prometheus.ExponentialBuckets(0.001, 4, 12), metrics.DurationBuckets()); diff != "" {
		t.Errorf("buckets (-client_golang +ours):\n%s", diff)
	}
}

// TestHistogramCumulative observes random durations, on and around the
// bounds too, and compares every bucket with a count done by hand.
func TestHistogramCumulative(t *testing.T) {
	t.Parallel()
	h, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	bounds := metrics.DurationBuckets()
	rng := rand.New(rand.NewPCG(1, 2))
	var durations []time.Duration
	for _, ub := range bounds {
		d := time.Duration(ub * 1e9)
		durations = append(durations, d-1, d, d+1)
	}
	for range 1000 {
		durations = append(durations, time.Duration(rng.Int64N(int64(3*time.Hour))))
	}
	var sum float64
	want := make([]uint64, len(bounds))
	for _, d := range durations {
		run(h, "t", success(d))
		sum += d.Seconds()
		for i, ub := range bounds {
			if d.Seconds() <= ub {
				want[i]++
			}
		}
	}

	got := h.Snapshot()[0].Finished[0]
	if diff := cmp.Diff(want, got.Buckets); diff != "" {
		t.Errorf("cumulative buckets (-want +got):\n%s", diff)
	}
	if got.Count != uint64(len(durations)) {
		t.Errorf("count = %d, want %d", got.Count, len(durations))
	}
	if diff := cmp.Diff(sum, got.Sum, cmpopts.EquateApprox(1e-12, 0)); diff != "" {
		t.Errorf("sum (-want +got):\n%s", diff)
	}
	// The text carries the same figures.
	s := samples(parse(t, scrape(t, h)))
	for i, ub := range bounds {
		key := fmt.Sprintf(`bgtask_task_duration_seconds_bucket{state="SUCCESS",task="t",le=%q}`, fmt.Sprint(ub))
		if s[key] != float64(want[i]) {
			t.Errorf("%s = %v, want %d", key, s[key], want[i])
		}
	}
}

// TestConcurrent runs attempts from many goroutines while scraping, then
// checks the totals; -race checks the accesses.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const goroutines, attempts = 32, 500
	h, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tasks := []string{"a", "b", "c", "d", "e"}
	states := []bgtask.State{bgtask.StateSuccess, bgtask.StateFailure}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range attempts {
				run(h, tasks[(g+i)%len(tasks)], bgtask.AttemptResult{State: states[i%2], Duration: time.Duration(i) * time.Millisecond})
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	scrapes := 0
	for running := true; running; scrapes++ {
		select {
		case <-done:
			running = false
		default:
		}
		checkSnapshot(t, h.Snapshot())
		parse(t, scrape(t, h))
	}
	t.Logf("%d scrapes", scrapes)

	got := samples(parse(t, scrape(t, h)))
	perTask := float64(goroutines * attempts / len(tasks))
	for _, task := range tasks {
		for key, want := range map[string]float64{
			`bgtask_tasks_started_total{task="` + task + `"}`:                         perTask,
			`bgtask_tasks_running{task="` + task + `"}`:                               0,
			`bgtask_tasks_finished_total{state="SUCCESS",task="` + task + `"}`:        perTask / 2,
			`bgtask_task_duration_seconds_count{state="FAILURE",task="` + task + `"}`: perTask / 2,
		} {
			if got[key] != want {
				t.Errorf("%s = %v, want %v", key, got[key], want)
			}
		}
	}
}

// checkSnapshot checks the invariants a snapshot keeps while attempts run.
func checkSnapshot(t *testing.T, tasks []metrics.TaskMetrics) {
	t.Helper()
	for _, tm := range tasks {
		var finished uint64
		for _, f := range tm.Finished {
			finished += f.Count
			if last := f.Buckets[len(f.Buckets)-1]; last > f.Count {
				t.Errorf("%s %s: last bucket %d above count %d", tm.Task, f.State, last, f.Count)
			}
		}
		if finished > tm.Started {
			t.Errorf("%s: %d finished, only %d started", tm.Task, finished, tm.Started)
		}
	}
}

func TestEmptyHookWritesNothing(t *testing.T) {
	t.Parallel()
	h, err := metrics.New(&metrics.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, h); got != "" {
		t.Errorf("WriteTo wrote %q, want nothing", got)
	}
	// Started but not finished: no finished or duration family yet.
	h.BeforeRun(context.Background(), &bgtask.AttemptInfo{Name: "t"})
	got := families(parse(t, scrape(t, h)))
	want := map[string]string{
		"bgtask_tasks_running":       "GAUGE Task attempts running now.",
		"bgtask_tasks_started_total": "COUNTER Task attempts started.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("families (-want +got):\n%s", diff)
	}
}

func TestConfigLabels(t *testing.T) {
	t.Parallel()
	h, err := metrics.New(&metrics.Config{Labels: map[string]string{"manager": "batch", "a_zone": `eu "1"`}})
	if err != nil {
		t.Fatal(err)
	}
	run(h, "t", success(time.Second))
	got := samples(parse(t, scrape(t, h)))
	for _, key := range []string{
		`bgtask_tasks_started_total{a_zone="eu \"1\"",manager="batch",task="t"}`,
		`bgtask_tasks_finished_total{a_zone="eu \"1\"",manager="batch",state="SUCCESS",task="t"}`,
		`bgtask_task_duration_seconds_bucket{a_zone="eu \"1\"",manager="batch",state="SUCCESS",task="t",le="1.024"}`,
	} {
		if got[key] != 1 {
			t.Errorf("%s = %v, want 1", key, got[key])
		}
	}
	labels := h.Labels()
	labels["manager"] = "changed"
	if got := h.Labels()["manager"]; got != "batch" {
		t.Errorf("Labels() shares its map: manager = %q after changing the copy", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		labels  map[string]string
		wantErr string // "" for valid
	}{
		{nil, ""},
		{map[string]string{"env": "prod", "_x9": ""}, ""},
		{map[string]string{"": "x"}, `metrics: Config.Labels: invalid label name ""`},
		{map[string]string{"9a": "x"}, `metrics: Config.Labels: invalid label name "9a"`},
		{map[string]string{"a-b": "x"}, `metrics: Config.Labels: invalid label name "a-b"`},
		{map[string]string{"__name__": "x"}, `metrics: Config.Labels: invalid label name "__name__"`},
		{map[string]string{"task": "x"}, `metrics: Config.Labels: label name "task" is reserved`},
		{map[string]string{"state": "x"}, `metrics: Config.Labels: label name "state" is reserved`},
		{map[string]string{"le": "x"}, `metrics: Config.Labels: label name "le" is reserved`},
		{map[string]string{"env": "\xff"}, `metrics: Config.Labels: value of "env" is not UTF-8`},
	}
	for _, tt := range tests {
		_, err := metrics.New(&metrics.Config{Labels: tt.labels})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("New(Labels: %q) error = %q, want %q", tt.labels, got, tt.wantErr)
		}
	}
}

// TestEscaping checks that label values the text format must escape come
// back unchanged through the reference parser. Task names cannot hold
// these characters, but Config.Labels values can, and the hook does not
// rely on the registry's name check.
func TestEscaping(t *testing.T) {
	t.Parallel()
	odd := []string{`quo"te`, `back\slash`, "new\nline", `\"` + "\n" + `\n`, `tail\`, "ünï €"}
	h, err := metrics.New(&metrics.Config{Labels: map[string]string{"odd": odd[3]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range odd {
		run(h, name, success(time.Second))
	}
	text := scrape(t, h)
	for line := range strings.Lines(text) {
		if !strings.HasPrefix(line, "# ") && !strings.HasPrefix(line, "bgtask_") {
			t.Fatalf("line %q: a raw newline escaped the label value", line)
		}
	}
	mf := parse(t, text)["bgtask_tasks_started_total"]
	var got []string
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "task":
				got = append(got, l.GetValue())
			case "odd":
				if l.GetValue() != odd[3] {
					t.Errorf("odd label = %q, want %q", l.GetValue(), odd[3])
				}
			}
		}
	}
	if diff := cmp.Diff(odd, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("task label values (-want +got):\n%s", diff)
	}
}

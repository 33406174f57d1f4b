package promcollector_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/metrics"
	"github.com/bgtask/bgtask/metrics/promcollector"
)

func run(h *metrics.Hook, task string, state bgtask.State, d time.Duration) {
	a := &bgtask.AttemptInfo{Name: task}
	h.BeforeRun(context.Background(), a)
	h.AfterRun(context.Background(), a, &bgtask.AttemptResult{State: state, Duration: d})
}

func newHook(t *testing.T, labels map[string]string) *metrics.Hook {
	t.Helper()
	h, err := metrics.New(&metrics.Config{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCollector(t *testing.T) {
	t.Parallel()
	h := newHook(t, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promcollector.New(h))
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("before any attempt: %d series, error %v; want none", n, err)
	}

	run(h, "alpha", bgtask.StateSuccess, 2*time.Millisecond)
	run(h, "alpha", bgtask.StateSuccess, 5*time.Second)
	run(h, "alpha", bgtask.StateFailure, 2*time.Hour)
	h.BeforeRun(context.Background(), &bgtask.AttemptInfo{Name: "beta"})

	want := `
# HELP bgtask_task_duration_seconds Duration of task attempts.
# TYPE bgtask_task_duration_seconds histogram
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="0.001"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="0.004"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="0.016"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="0.064"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="0.256"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="1.024"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="4.096"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="16.384"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="65.536"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="262.144"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="1048.576"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="4194.304"} 0
bgtask_task_duration_seconds_bucket{state="FAILURE",task="alpha",le="+Inf"} 1
bgtask_task_duration_seconds_sum{state="FAILURE",task="alpha"} 7200
bgtask_task_duration_seconds_count{state="FAILURE",task="alpha"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="0.001"} 0
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="0.004"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="0.016"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="0.064"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="0.256"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="1.024"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="4.096"} 1
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="16.384"} 2
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="65.536"} 2
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="262.144"} 2
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="1048.576"} 2
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="4194.304"} 2
bgtask_task_duration_seconds_bucket{state="SUCCESS",task="alpha",le="+Inf"} 2
bgtask_task_duration_seconds_sum{state="SUCCESS",task="alpha"} 5.002
bgtask_task_duration_seconds_count{state="SUCCESS",task="alpha"} 2
# HELP bgtask_tasks_finished_total Task attempts ended, by resulting state.
# TYPE bgtask_tasks_finished_total counter
bgtask_tasks_finished_total{state="FAILURE",task="alpha"} 1
bgtask_tasks_finished_total{state="SUCCESS",task="alpha"} 2
# HELP bgtask_tasks_running Task attempts running now.
# TYPE bgtask_tasks_running gauge
bgtask_tasks_running{task="alpha"} 0
bgtask_tasks_running{task="beta"} 1
# HELP bgtask_tasks_started_total Task attempts started.
# TYPE bgtask_tasks_started_total counter
bgtask_tasks_started_total{task="alpha"} 3
bgtask_tasks_started_total{task="beta"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// TestSameAsText checks that the collector and the hook's own text writer
// expose the same families, help texts and values.
func TestSameAsText(t *testing.T) {
	t.Parallel()
	h := newHook(t, map[string]string{"manager": "main"})
	for i, state := range []bgtask.State{bgtask.StateSuccess, bgtask.StateFailure, bgtask.StateCancelled, bgtask.StateOngoing} {
		run(h, "t"+string(rune('a'+i)), state, time.Duration(i)*time.Second)
	}
	h.AfterRun(context.Background(), &bgtask.AttemptInfo{Name: "ta"}, &bgtask.AttemptResult{State: bgtask.StateOngoing, HandedBack: true})

	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promcollector.New(h))
	fromRegistry, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	parsed, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var fromText []*dto.MetricFamily
	for _, mf := range parsed {
		fromText = append(fromText, mf)
	}
	want, got := text(t, fromRegistry), text(t, fromText)
	if !strings.Contains(want, `bgtask_task_duration_seconds_bucket{manager="main",state="HANDED_BACK",task="ta",le="+Inf"} 1`) {
		t.Errorf("promcollector exposition lacks the handed-back attempt:\n%s", want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exposition (-promcollector +WriteTo):\n%s", diff)
	}
}

// text renders families in the text format after sorting families,
// series and labels, so that equal contents render equal.
func text(t *testing.T, mfs []*dto.MetricFamily) string {
	t.Helper()
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	var out strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			slices.SortFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(a.String(), b.String()) })
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

// TestTwoHooks registers two hooks told apart by Config.Labels in one
// pedantic registry.
func TestTwoHooks(t *testing.T) {
	t.Parallel()
	batch, web := newHook(t, map[string]string{"manager": "batch"}), newHook(t, map[string]string{"manager": "web"})
	run(batch, "t", bgtask.StateSuccess, time.Second)
	run(web, "t", bgtask.StateSuccess, time.Second)
	run(web, "t", bgtask.StateSuccess, time.Second)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(promcollector.New(batch), promcollector.New(web))
	want := `
# HELP bgtask_tasks_started_total Task attempts started.
# TYPE bgtask_tasks_started_total counter
bgtask_tasks_started_total{manager="batch",task="t"} 1
bgtask_tasks_started_total{manager="web",task="t"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "bgtask_tasks_started_total"); err != nil {
		t.Error(err)
	}
	if err := reg.Register(promcollector.New(batch)); err == nil {
		t.Error("registering the same hook twice: no error")
	}
}

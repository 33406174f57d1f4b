package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// reportRow is one line of the comparison: a metric of one scenario, taken
// from the results whose scenario, mode and profile match.
type reportRow struct {
	label    string
	scenario string
	// mode per system; a system missing here has no such insert path
	modes map[string]string
	value func(Result) float64
	unit  string
	// optional: a zero value means "not recorded" (older result files)
	optional bool
}

// reportSystems are the columns, the subject first.
var reportSystems = []string{"bgtask", "bgtask-redis", "asynq", "asynq-aof", "river"}

func sameMode(m string) map[string]string {
	out := map[string]string{}
	for _, s := range reportSystems {
		out[s] = m
	}
	return out
}

var reportRows = []reportRow{
	{"enqueue one by one", "enqueue", map[string]string{"bgtask": "single", "bgtask-redis": "single", "asynq": "single", "asynq-aof": "single", "river": "single"},
		func(r Result) float64 { return r.TasksPerS }, "tasks/s", false},
	{"enqueue batch ×1000 (river: InsertMany)", "enqueue", map[string]string{"bgtask": "many", "bgtask-redis": "many", "river": "many"},
		func(r Result) float64 { return r.TasksPerS }, "tasks/s", false},
	{"enqueue batch ×1000 (river: InsertManyFast)", "enqueue", map[string]string{"bgtask": "many", "river": "manyfast"},
		func(r Result) float64 { return r.TasksPerS }, "tasks/s", false},
	{"drain C=100", "drain", sameMode("-"),
		func(r Result) float64 { return r.TasksPerS }, "tasks/s", false},
	{"drain C=100, acked", "drain", sameMode("-"),
		func(r Result) float64 { return r.AckedPerS }, "tasks/s", false},
	{"drain machine CPU per task", "drain", sameMode("-"),
		func(r Result) float64 { return r.MachineCPUS * 1e6 / float64(max(r.Done, 1)) }, "µs", false},
	{"drain worker peak RSS", "drain", sameMode("-"),
		func(r Result) float64 { return float64(r.VmHWMKB) / 1024 }, "MiB", false},
	{"drain worker RSS at end: anonymous", "drain", sameMode("-"),
		func(r Result) float64 { return float64(r.RssAnonKB) / 1024 }, "MiB", true},
	{"drain worker RSS at end: file-backed", "drain", sameMode("-"),
		func(r Result) float64 { return float64(r.RssFileKB) / 1024 }, "MiB", true},
	{"latency p50", "latency", sameMode("-"), func(r Result) float64 { return r.P50Ms }, "ms", false},
	{"latency p95", "latency", sameMode("-"), func(r Result) float64 { return r.P95Ms }, "ms", false},
	{"latency p99", "latency", sameMode("-"), func(r Result) float64 { return r.P99Ms }, "ms", false},
	{"latency: enqueue call p50", "latency", sameMode("-"), func(r Result) float64 { return r.EnqP50Ms }, "ms", false},
	{"latency: enqueue call p99", "latency", sameMode("-"), func(r Result) float64 { return r.EnqP99Ms }, "ms", true},
	{"idle worker CPU (own process)", "idle", sameMode("-"),
		func(r Result) float64 { return 100 * r.ProcCPUS / r.ElapsedS }, "% of a core", false},
	{"idle worker peak RSS", "idle", sameMode("-"),
		func(r Result) float64 { return float64(r.VmHWMKB) / 1024 }, "MiB", false},
}

// runReport reads .jsonl result files and prints, per profile, a markdown
// table: every system's median (and min–max) and bgtask's ratio to each.
func runReport(w io.Writer, files []string) error {
	var all []Result
	for _, f := range files {
		rs, err := readResults(f)
		if err != nil {
			return err
		}
		all = append(all, rs...)
	}
	var profiles []string
	for _, r := range all {
		if !slices.Contains(profiles, r.Profile) {
			profiles = append(profiles, r.Profile)
		}
	}
	for _, p := range profiles {
		fmt.Fprintf(w, "\n### profile %s\n\n", p)
		fmt.Fprintf(w, "| metric | unit | %s | %s |\n", strings.Join(reportSystems, " | "), ratioHeads())
		fmt.Fprintf(w, "|---|---|%s\n", strings.Repeat("---:|", 2*len(reportSystems)-1))
		for _, row := range reportRows {
			if line, ok := reportLine(all, p, row); ok {
				fmt.Fprintln(w, line)
			}
		}
		fmt.Fprintln(w, backgroundLine(all, p))
	}
	return nil
}

// backgroundLine summarizes what -quiet-below saw before the measurements.
func backgroundLine(all []Result, profile string) string {
	var busy []float64
	n, waited := 0, 0
	for _, r := range all {
		if r.Profile != profile {
			continue
		}
		n++
		if r.QuietWaitS > 0 {
			busy = append(busy, r.PreBusyPct)
		}
		if r.QuietWaitS > 1.5 {
			waited++
		}
	}
	if len(busy) == 0 {
		return fmt.Sprintf("\n%d measurements; the machine's load before them was not recorded (no -quiet-below).", n)
	}
	return fmt.Sprintf("\n%d measurements. Busy share of both cores in the 1 s before each start: median %.1f %%, max %.1f %%; %d waited longer than one window for a quiet second.",
		n, median(busy), slices.Max(busy), waited)
}

func ratioHeads() string {
	var h []string
	for _, s := range reportSystems[1:] {
		h = append(h, reportSystems[0]+"/"+s)
	}
	return strings.Join(h, " | ")
}

func reportLine(all []Result, profile string, row reportRow) (string, bool) {
	med := map[string]float64{}
	cells := []string{row.label, row.unit}
	for _, s := range reportSystems {
		mode, ok := row.modes[s]
		var vs []float64
		for _, r := range all {
			if !ok || r.System != s || r.Profile != profile || r.Scenario != row.scenario || r.Mode != mode || r.Capped {
				continue
			}
			if v := row.value(r); v != 0 || !row.optional {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			cells = append(cells, "–")
			continue
		}
		med[s] = median(vs)
		cells = append(cells, fmt.Sprintf("**%s** (%s–%s)", num(med[s]), num(slices.Min(vs)), num(slices.Max(vs))))
	}
	if _, ok := med[reportSystems[0]]; !ok {
		return "", false
	}
	for _, s := range reportSystems[1:] {
		o, ok := med[s]
		if !ok || o == 0 {
			cells = append(cells, "–")
			continue
		}
		ratio := med[reportSystems[0]] / o
		if ratio < 0.01 {
			cells = append(cells, "<0.01×")
			continue
		}
		cells = append(cells, fmt.Sprintf("%.2f×", ratio))
	}
	return "| " + strings.Join(cells, " | ") + " |", true
}

// num prints a value with about three significant digits.
func num(v float64) string {
	switch {
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func readResults(file string) ([]Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

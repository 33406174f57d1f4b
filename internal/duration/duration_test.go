package duration

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "90s": 90 * time.Second, "1m30s": 90 * time.Second,
		"1.5": 1500 * time.Millisecond, " 2m ": 2 * time.Minute, "0": 0, "250ms": 250 * time.Millisecond,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "-1s", "NaN", "1e300", "-1e300", "90 s"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, got)
		}
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	v := NewValue(time.Minute)
	if v.String() != "1m0s" || v.IsSet {
		t.Fatalf("default: %q set=%v", v.String(), v.IsSet)
	}
	if err := v.Set("90"); err != nil || v.D != 90*time.Second || !v.IsSet {
		t.Fatalf("Set(90): %v, %v", v.D, err)
	}
	if err := v.Set("x"); err == nil {
		t.Fatal("Set(x) accepted")
	}
}

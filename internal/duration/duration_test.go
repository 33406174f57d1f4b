package duration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask/internal/quote"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "90s": 90 * time.Second, "1m30s": 90 * time.Second,
		"1.5": 1500 * time.Millisecond, "0.25": 250 * time.Millisecond, "0": 0, "0.0": 0,
		"250ms": 250 * time.Millisecond, "2m": 2 * time.Minute, "1.5h": 90 * time.Minute,
		".5s": 500 * time.Millisecond, "1h0m0.5s": time.Hour + 500*time.Millisecond,
		"0.1": 100 * time.Millisecond, "007": 7 * time.Second,
	} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// TestParseIsStrict: what the documented syntax does not allow is refused,
// with the input quoted in the error. "1e9", "1_000", "+5" and " 5" were
// accepted (as 277777h46m40s, 16m40s, 5s and 5s).
func TestParseIsStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"1e9", ErrSyntax},
		{"1E9", ErrSyntax},
		{"1_000", ErrSyntax},
		{"+5", ErrSyntax},
		{"+5s", ErrSyntax},
		{" 5", ErrSyntax},
		{"5 ", ErrSyntax},
		{" 2m ", ErrSyntax},
		{"\t5s", ErrSyntax},
		{"5\n", ErrSyntax},
		{"0x10", ErrSyntax},
		{"0x1p4", ErrSyntax},
		{"1.", ErrSyntax},
		{".5", ErrSyntax},
		{"1.2.3", ErrSyntax},
		{"١٢", ErrSyntax}, // Arabic-Indic digits
		{"", ErrSyntax},
		{"x", ErrSyntax},
		{"NaN", ErrSyntax},
		{"Inf", ErrSyntax},
		{"infinity", ErrSyntax},
		{"90 s", ErrSyntax},
		{"--5", ErrSyntax},
		{"-", ErrSyntax},
		{"-x", ErrSyntax},
		{"-1", ErrNegative},
		{"-1s", ErrNegative},
		{"-1.5", ErrNegative},
		{"-0", ErrNegative},
		{"1" + strings.Repeat("0", 300), ErrTooLarge},
		{"9999999999999", ErrTooLarge}, // seconds: above 2^62 ns
		// A Go duration beyond the range was a syntax error ("want a
		// duration like 90s"), bare seconds "too large": one bound, one
		// error for both spellings (fresh user).
		{"2562048h", ErrTooLarge}, // beyond time.Duration
		{"1281024h", ErrTooLarge}, // within it, above 2^62 ns
		{"1h" + strings.Repeat("9", 30) + "m", ErrTooLarge},
		{"2562048hx", ErrSyntax},
		{"-2562048h", ErrNegative},
		// Not zero, but under 1 ns: it rounded to 0, and `run --timeout
		// 0.0000000001` ran with no timeout at all (fresh user).
		{"0.0000000001", ErrTooSmall},
		{"0.5ns", ErrTooSmall},
		{"0.0000000001s", ErrTooSmall},
	} {
		got, err := Parse(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), quote.Q(tc.in)+": ") {
			t.Errorf("Parse(%q): error %q does not quote the input", tc.in, err)
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
	for _, in := range []string{"x", "1e9", "+5"} {
		if err := v.Set(in); err == nil {
			t.Fatalf("Set(%q) accepted", in)
		}
	}
}

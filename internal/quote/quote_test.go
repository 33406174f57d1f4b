package quote

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipAndQ(t *testing.T) {
	for _, tc := range []struct{ in, clip, q string }{
		{"", "", `""`},
		{"abc", "abc", `"abc"`},
		{strings.Repeat("a", MaxBytes), strings.Repeat("a", MaxBytes), `"` + strings.Repeat("a", MaxBytes) + `"`},
		{strings.Repeat("a", MaxBytes+1), strings.Repeat("a", MaxBytes) + "…", `"` + strings.Repeat("a", MaxBytes) + `"…`},
		// a 3-byte rune across the limit is dropped whole
		{strings.Repeat("a", MaxBytes-1) + "€b", strings.Repeat("a", MaxBytes-1) + "…", `"` + strings.Repeat("a", MaxBytes-1) + `"…`},
	} {
		if got := Clip(tc.in); got != tc.clip || !utf8.ValidString(got) {
			t.Errorf("Clip(%.20q… %d bytes) = %.20q… (%d bytes), want %d bytes", tc.in, len(tc.in), got, len(got), len(tc.clip))
		}
		if got := Q(tc.in); got != tc.q {
			t.Errorf("Q(%d bytes) = %d bytes %.30q, want %.30q", len(tc.in), len(got), got, tc.q)
		}
	}
	if got := Q(strings.Repeat("\x00", 100000)); len(got) > 4*MaxBytes+5 {
		t.Errorf("Q of 100,000 NULs: %d bytes, want at most %d", len(got), 4*MaxBytes+5)
	}
}

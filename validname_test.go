package bgtask

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidNameMatchesPattern checks the hand-written ValidName against
// the regexp it replaces, on edge cases and on every short string over a
// small alphabet that covers each character class.
func TestValidNameMatchesPattern(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(namePattern)
	check := func(name string) {
		if got, want := ValidName(name), re.MatchString(name); got != want {
			t.Fatalf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{
		"", "a", "Z", "1a", "_a", ".a", "-a", "a1_.-", "a b", "a/b", "é", "aé",
		"a" + strings.Repeat("b", 63), "a" + strings.Repeat("b", 64), "a\n", "removeDirectory",
	} {
		check(name)
	}
	alphabet := []byte{'a', 'Z', '0', '_', '.', '-', '/', ' ', 0xff}
	var gen func(prefix []byte, depth int)
	gen = func(prefix []byte, depth int) {
		check(string(prefix))
		if depth == 0 {
			return
		}
		for _, c := range alphabet {
			gen(append(prefix, c), depth-1)
		}
	}
	gen(nil, 3)
}

package tasks

import (
	"strings"
	"testing"
)

// FuzzParseRemoveArgs decodes removeDirectory's task arguments (NUL
// separates them): no panic; what is accepted names a PARENT, a CHILD and
// a SUFFIX that cannot reach outside PARENT (plain names, or empty, or
// "*" for SUFFIX), non-negative waits, and lock file names that fit a
// directory entry.
func FuzzParseRemoveArgs(f *testing.F) {
	for _, seed := range []string{
		"/tmp/p\x00child\x0010",
		"/tmp/p\x00child\x0010\x00.old",
		"--test-sleep\x00100\x00/tmp/p\x00\x00-5\x00*",
		"--test-sleep=1\x00--\x00/p\x00..\x001",
		"/p\x00a/b\x00x",
		"\x00c\x001",
		"--bogus\x00/p\x00c\x001",
		"/p\x00c\x009999999999999999999",
		"/p\x00" + strings.Repeat("n", 300) + "\x001",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		a, err := parseRemoveArgs(args)
		if err != nil {
			if a != nil {
				t.Fatalf("%q: error %v with arguments %+v", args, err, a)
			}
			return
		}
		switch {
		case a.parent == "":
			t.Fatalf("%q: accepted an empty PARENT", args)
		case a.child != "" && !plainName(a.child):
			t.Fatalf("%q: accepted CHILD %q", args, a.child)
		case a.suffix != "" && a.suffix != "*" && !plainName(a.suffix):
			t.Fatalf("%q: accepted SUFFIX %q", args, a.suffix)
		case strings.ContainsAny(a.child+a.suffix, "/\x00"):
			t.Fatalf("%q: a name with a separator: %q %q", args, a.child, a.suffix)
		case a.wait < 0 || a.testSleep < 0:
			t.Fatalf("%q: negative wait %v or sleep %v", args, a.wait, a.testSleep)
		}
		if a.child != "" {
			if l := lockName(a.child); len(l) > 255 || strings.Contains(l, "/") {
				t.Fatalf("%q: lock name %q does not fit a directory entry", args, l)
			}
		}
	})
}

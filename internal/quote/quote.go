// Package quote bounds the user-supplied values that error messages echo
// (task names, IDs, cursors, header values, paths), so that an error never
// grows with its input.
package quote

import (
	"strconv"
	"unicode/utf8"
)

// MaxBytes is the most bytes of a value that Clip and Q keep (200).
const MaxBytes = 200

// Clip returns s cut to at most MaxBytes bytes, at a rune boundary, with
// "…" appended when it was cut; a shorter s is returned as is.
func Clip(s string) string {
	if len(s) <= MaxBytes {
		return s
	}
	n := MaxBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Q returns s clipped (Clip) and quoted as Go's %q does; the "…" of a cut
// value goes after the closing quote, so it is not taken for part of the
// value. At most 4*MaxBytes+5 bytes.
func Q(s string) string {
	c := Clip(s)
	if len(c) == len(s) {
		return strconv.Quote(s)
	}
	return strconv.Quote(c[:len(c)-len("…")]) + "…"
}

package bgtask

import (
	"strconv"
	"unicode/utf8"
)

// MaxTextBytes bounds, in bytes, a progress message and an error message
// (a task's or a subtask's) as the manager stores and sends them: 64 KiB.
// A longer one is cut at a UTF-8 boundary and ends with "… [N bytes
// cut]", so that one task cannot make every write, event and replay of
// the store carry megabytes (on Redis each finish of a 1 MB message held
// its one thread for about 0.1 s). Arguments have their own limit,
// MaxArgsBytes.
const MaxTextBytes = 64 << 10

// capText returns s, or s cut to at most MaxTextBytes with a note of how
// much was cut.
func capText(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	cut := MaxTextBytes - 40 // room for the note
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… [" + strconv.Itoa(len(s)-cut) + " bytes cut]"
}

package bgtask_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bgtask/bgtask"
)

// TestLongMessagesAreCut: a progress message and an error longer than
// MaxTextBytes are stored cut to it, at a UTF-8 boundary, saying how much
// was cut; shorter ones whole. A 10 MB progress message was stored three
// times (record and two events) and held Redis' one thread for a second
// at each finish.
func TestLongMessagesAreCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 3<<20) // 6 MiB, two bytes a rune
	e := setup(t, []bgtask.Definition{
		{Name: "chatty", Run: func(_ context.Context, tk *bgtask.Task) error {
			tk.Progress().Set(1, long)
			return errors.New(long)
		}},
		{Name: "short", Run: func(_ context.Context, tk *bgtask.Task) error {
			tk.Progress().Set(1, "fine")
			return errors.New("plain error")
		}},
	}, nil)
	info := e.waitState(e.submit("chatty"), bgtask.StateFailure)
	for what, s := range map[string]string{"error": info.Error, "progress message": info.Progress.Message} {
		if len(s) > bgtask.MaxTextBytes || !utf8.ValidString(s) || !strings.HasSuffix(s, " bytes cut]") || !strings.HasPrefix(s, "éé") {
			t.Fatalf("%s of %d bytes stored as %d bytes ending %q; want at most %d, valid UTF-8, saying what was cut",
				what, len(long), len(s), s[max(0, len(s)-30):], bgtask.MaxTextBytes)
		}
	}
	info = e.waitState(e.submit("short"), bgtask.StateFailure)
	if info.Error != "plain error" || info.Progress.Message != "fine" {
		t.Fatalf("short texts stored as %q, %q", info.Error, info.Progress.Message)
	}
}

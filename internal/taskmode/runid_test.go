package taskmode

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewRunIDIsUUIDv7(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_700_000_000_123)
	seen := map[string]bool{}
	for range 1000 {
		s := newRunID(now)
		id, err := uuid.Parse(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("%q: version %d variant %v, want 7 RFC4122", s, id.Version(), id.Variant())
		}
		if sec, nsec := id.Time().UnixTime(); time.Unix(sec, nsec).UnixMilli() != now.UnixMilli() {
			t.Fatalf("%q: time %v, want %v", s, time.Unix(sec, nsec), now)
		}
		if seen[s] {
			t.Fatalf("duplicate ID %q", s)
		}
		seen[s] = true
	}
}

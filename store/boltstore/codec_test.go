package boltstore

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/google/go-cmp/cmp"
)

func fullRecord() *store.Record {
	code := -3
	return &store.Record{
		ID: "019a0000-0000-7000-8000-000000000001", Name: "noop",
		Args:  []string{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", "ü"},
		State: store.Failure, Attempt: 3, Owner: "srv-1",
		HeartbeatAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), CancelRequested: true,
		Progress:   store.Progress{Current: -1.5, Total: math.Inf(1), Message: "m"},
		Subtasks:   []store.Subtask{{Key: "a", State: store.Failure, Error: "e"}, {Key: "b", State: store.SubtaskPending}},
		CreatedAt:  time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), // before 1970 and 1678-safe
		StartedAt:  time.Date(2262, 4, 12, 0, 0, 0, 999999999, time.UTC),
		FinishedAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		Error:      "boom", ExitCode: &code, IdempotencyKey: "k", Priority: "idle",
		Timeout: time.Hour, IdleTimeout: -time.Second, Tags: []string{"x", "y"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, r := range []*store.Record{fullRecord(), {ID: "x", Name: "y"}, {ID: "x", Name: "y", Args: []string{}, Tags: []string{}}} {
		got, err := decodeRecord(encodeRecord(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Fatalf("round trip (-want +got):\n%s", d)
		}
	}
}

func TestCodecRejectsTruncated(t *testing.T) {
	b := encodeRecord(nil, fullRecord())
	for i := range len(b) {
		if _, err := decodeRecord(b[:i]); err == nil {
			t.Fatalf("decoding the first %d of %d bytes succeeded", i, len(b))
		}
	}
	if _, err := decodeRecord(append(b, 0)); err == nil {
		t.Fatal("decoding with a trailing byte succeeded")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeRecord(nil, fullRecord()))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := decodeRecord(encodeRecord(nil, r))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, again, cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })); d != "" {
			t.Fatal(d)
		}
	})
}

// BenchmarkCodec compares the binary codec with encoding/json, the reason
// for the choice in docs/store.md.
func BenchmarkCodec(b *testing.B) {
	r := fullRecord()
	r.Progress.Total = 1e9 // encoding/json rejects infinities
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(encodeRecord(nil, r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			data, err := json.Marshal(r)
			if err != nil {
				b.Fatal(err)
			}
			var got store.Record
			if err := json.Unmarshal(data, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package redisstore

import (
	"math"
	"testing"
	"time"

	"github.com/bgtask/bgtask/store"
	"github.com/bgtask/bgtask/store/storetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDataRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []*store.Record{
		{},
		{Args: []string{"", "a b", "\x00\xff not utf-8"}, CreatedAt: time.Unix(1, 2).UTC(), Timeout: time.Hour,
			IdleTimeout: -time.Nanosecond, Tags: []string{"b", "a", "b"}, Priority: store.PriorityIdle},
	} {
		var got store.Record
		if err := decodeData(encodeData(r), &got); err != nil {
			t.Fatalf("decodeData: %v", err)
		}
		want := store.Record{Args: r.Args, CreatedAt: r.CreatedAt, Timeout: r.Timeout, IdleTimeout: r.IdleTimeout, Tags: r.Tags, Priority: r.Priority}
		if d := cmp.Diff(want, got, cmpEmpty); d != "" {
			t.Errorf("data round trip (-want +got):\n%s", d)
		}
	}
	good := encodeData(&store.Record{Args: []string{"abc"}})
	for _, bad := range []string{"", "\x02", good[:len(good)-1], good[:3], "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		var r store.Record
		if err := decodeData(bad, &r); err == nil {
			t.Errorf("decodeData(%q) = nil, want an error", bad)
		}
	}
}

var cmpEmpty = cmpopts.EquateEmpty()

func TestProgressAndQueueKind(t *testing.T) {
	t.Parallel()
	for _, p := range []store.Progress{{}, {Current: math.Copysign(0, -1)}, {Current: math.Inf(1), Total: -1e-300, Message: "a b  c"}} {
		got, err := decodeProgress(encodeProgress(p))
		if err != nil || math.Float64bits(got.Current) != math.Float64bits(p.Current) || got.Total != p.Total || got.Message != p.Message {
			t.Errorf("progress %+v round-trips to %+v, %v", p, got, err)
		}
	}
	if _, err := decodeProgress("1 x y"); err == nil {
		t.Error("decodeProgress of a bad number succeeded")
	}
	for _, tc := range []struct {
		r    store.Record
		want string
	}{
		{store.Record{}, "n[]"},
		{store.Record{Priority: store.PriorityIdle, Tags: []string{"gpu", "eu", "gpu"}}, `i["eu","gpu"]`},
	} {
		if got := queueKind(&tc.r); got != tc.want {
			t.Errorf("queueKind(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestDecodeRecordPackedFields: z is unpacked where it comes in a reply
// (a later pair wins over it, it wins over an earlier one), and a value
// that is not a z is an error, not a panic or a half-read record.
func TestDecodeRecordPackedFields(t *testing.T) {
	d := encodeData(storetest.NewRecord("job", "a"))
	reply := []any{"id1", "n", "job", "d", d, "s", "ONGOING", "z", "SUCCESS|2|3||0|17|1764547200000000", "h", "1764547200000009"}
	r, err := decodeRecord(reply)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != "SUCCESS" || r.Attempt != 2 || r.Fence != 3 || r.CancelRequested || r.ExitCode == nil || *r.ExitCode != 0 ||
		r.EventSeq != 17 || r.HeartbeatAt.UnixMicro() != 1764547200000009 {
		t.Fatalf("decoded %+v", r)
	}
	for _, z := range []string{"", "SUCCESS", "SUCCESS|2|3||0|17", "SUCCESS|2|3||0|17|1|extra", "|||||||"} {
		if _, err := decodeRecord([]any{"id1", "n", "job", "d", d, "z", z}); err == nil {
			t.Errorf("z %q: no error", z)
		}
	}
}

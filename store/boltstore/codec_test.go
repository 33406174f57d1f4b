package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
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

// fillAll sets every field reachable from v to a non-zero value that
// depends on seed, so that a field added to store.Record (or the types it
// holds) and forgotten by the codec fails TestCodecCoversEveryField.
func fillAll(t *testing.T, v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(seed + 1))
	case reflect.Uint64:
		v.SetUint(uint64(seed + 1))
	case reflect.Float64:
		v.SetFloat(float64(seed) + 0.25)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(t, v.Elem(), seed+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fillAll(t, v.Index(i), seed*10+i)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(int64(1e9+seed), int64(seed)).UTC()))
			return
		}
		for i := range v.NumField() {
			fillAll(t, v.Field(i), seed*100+i)
		}
	default:
		t.Fatalf("fillAll: no rule for %s; extend the codec and this test", v.Type())
	}
}

func TestCodecCoversEveryField(t *testing.T) {
	var r store.Record
	fillAll(t, reflect.ValueOf(&r).Elem(), 1)
	got, err := decodeRecord(encodeRecord(nil, &r))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&r, got); d != "" {
		t.Fatalf("a field of store.Record does not round-trip (-want +got):\n%s", d)
	}
}

// TestCodecReadsVersion1 decodes a record written before subtasks had
// progress.
func TestCodecReadsVersion1(t *testing.T) {
	r := &store.Record{ID: "x", Name: "y", Subtasks: []store.Subtask{{Key: "a", State: store.Failure, Error: "e"}}}
	// Version 1 is version 2 without the subtask progress.
	v1 := []byte{1}
	v1 = appendString(v1, r.ID)
	v1 = appendString(v1, r.Name)
	v1 = appendStrings(v1, nil)
	v1 = appendString(v1, "")
	v1 = binary.AppendVarint(v1, 0)
	v1 = appendString(v1, "")
	v1 = appendTime(v1, time.Time{})
	v1 = binary.AppendUvarint(v1, 0)
	v1 = appendProgress(v1, store.Progress{})
	v1 = binary.AppendUvarint(v1, 1)
	v1 = appendString(v1, "a")
	v1 = appendString(v1, string(store.Failure))
	v1 = appendString(v1, "e")
	for range 3 {
		v1 = appendTime(v1, time.Time{})
	}
	v1 = appendString(v1, "")
	v1 = appendString(v1, "")
	v1 = appendString(v1, "")
	v1 = binary.AppendVarint(v1, 0)
	v1 = binary.AppendVarint(v1, 0)
	v1 = appendStrings(v1, nil)
	got, err := decodeRecord(v1)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got); d != "" {
		t.Fatalf("version 1 record (-want +got):\n%s", d)
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

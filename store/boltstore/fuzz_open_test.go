package boltstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bgtask/bgtask/internal/storedamage"
	"github.com/bgtask/bgtask/store/boltstore"
)

// FuzzNewDamaged opens damaged copies of a small healthy store file with
// New: three bytes changed (offset and xor mask each, offsets taken modulo
// the size) and the file cut to cut bytes (0: not cut; modulo the size).
// Whatever the damage, New returns (a crash in a goroutine of bbolt's own
// would end the fuzzing process), and a refusal leaves the file as it was
// and is confirmed by Check. This is the property the pre-open check
// exists for: a file it passes never crashes bbolt at open. (Fuzzing the
// whole file as bytes stalls Go's fuzzer on inputs of tens of kilobytes.)
func FuzzNewDamaged(f *testing.F) {
	dir, err := os.MkdirTemp("", "fuzz-new-")
	if err != nil {
		f.Fatal(err)
	}
	good, err := storedamage.Healthy(dir, 40)
	os.RemoveAll(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(16), byte(1), uint32(0), byte(0), uint32(0), byte(0), uint32(0))
	f.Add(uint32(4096*3+8), byte(0xff), uint32(4096*3+11), byte(0x80), uint32(0), byte(0), uint32(0))
	f.Add(uint32(4096*4+16), byte(0x10), uint32(4096*5+20), byte(0x01), uint32(4096*6+24), byte(0x7f), uint32(0))
	f.Add(uint32(0), byte(0), uint32(0), byte(0), uint32(0), byte(0), uint32(4096*3))
	f.Fuzz(func(t *testing.T, o1 uint32, x1 byte, o2 uint32, x2 byte, o3 uint32, x3 byte, cut uint32) {
		data := bytes.Clone(good)
		for _, m := range []struct {
			off uint32
			x   byte
		}{{o1, x1}, {o2, x2}, {o3, x3}} {
			data[int(m.off)%len(data)] ^= m.x
		}
		if cut > 0 {
			data = data[:int(cut)%len(data)]
		}
		file := filepath.Join(t.TempDir(), boltstore.DefaultFileName)
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := boltstore.New(file, &boltstore.Config{MmapSize: 1 << 20})
		if err == nil {
			s.Close()
			return
		}
		newer := strings.Contains(err.Error(), "unsupported format version")
		if !errors.Is(err, boltstore.ErrDamaged) && !newer {
			t.Fatalf("New: %v, want an error wrapping ErrDamaged", err)
		}
		if after, rerr := os.ReadFile(file); rerr != nil || !bytes.Equal(after, data) {
			t.Fatalf("New changed a file it refused (%v)", rerr)
		}
		if newer {
			return // a flipped format byte can make a newer format's file
		}
		if rep, err := boltstore.Check(file, 0); err != nil || rep.OK() {
			t.Fatalf("Check of a file New refused: %v, %v", err, rep)
		}
	})
}

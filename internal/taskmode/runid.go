package taskmode

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"time"
)

// newRunID returns a UUIDv7 (RFC 9562) for one run: 48 bits of Unix
// milliseconds, then 74 random bits. The random bits come from math/rand/v2,
// whose generator the runtime seeds from the kernel at start-up: an ID
// needs uniqueness, not secrecy, and the first use of crypto/rand costs
// 30–170 µs, a noticeable share of a task-mode process.
func newRunID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(now.UnixMilli())<<16|rand.Uint64()&0x0fff|0x7000)
	binary.BigEndian.PutUint64(b[8:16], rand.Uint64()&0x3fffffffffffffff|0x8000000000000000)
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

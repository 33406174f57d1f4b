package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// rssKiB returns the process's current resident set (VmRSS) in KiB.
func rssKiB() int64 { return procStatus("VmRSS:") }

// peakRSSKiB returns the process's peak resident set (VmHWM) in KiB.
func peakRSSKiB() int64 { return procStatus("VmHWM:") }

func procStatus(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			fields := strings.Fields(v)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

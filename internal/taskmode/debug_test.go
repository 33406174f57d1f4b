package taskmode

import "testing"

func TestTracerAttached(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]bool{
		"Name:\tbgtask\nTracerPid:\t0\nUid:\t0\n":    false,
		"Name:\tbgtask\nTracerPid:\t4242\nUid:\t0\n": true,
		"TracerPid:   17":                            true,
		"Name:\tbgtask\n":                            false,
	} {
		if got := tracerAttached([]byte(status)); got != want {
			t.Errorf("tracerAttached(%q) = %v, want %v", status, got, want)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "localhost:6060": true, "[::1]:0": true, "127.1.2.3:80": true,
		":6060": false, "0.0.0.0:0": false, "192.0.2.1:80": false, "example.com:80": false, "nonsense": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

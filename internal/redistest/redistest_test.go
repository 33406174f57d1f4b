package redistest

import (
	"testing"
)

// Two test processes may probe the same free port and both start a
// redis-server on it: the second one fails to bind and exits. Start must
// not mistake the first one, which answers PING on that port, for its own
// server (it would go away when the other test ends, and the second test
// would see "connection refused" midway). It tries another port instead.
func TestStartDoesNotAdoptAnotherProcessServer(t *testing.T) {
	other := Start(t, nil)
	tries := 0
	pickPort = func() (int, error) {
		tries++
		if tries == 1 {
			return other.port, nil // taken since the probe
		}
		return freePort()
	}
	t.Cleanup(func() { pickPort = freePort })
	s := Start(t, nil)
	if s.port == other.port {
		t.Fatalf("Start took the server already on port %d for its own", s.port)
	}
	other.Kill()
	if err := s.ping(); err != nil {
		t.Fatalf("the started server does not answer once the other is gone: %v", err)
	}
}

package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that in-process runs leave no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

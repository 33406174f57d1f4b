package taskmode_test

import (
	"os/exec"
	"testing"
)

// BenchmarkRunSuccess measures a whole `bgtask run success` process: exec,
// runtime start-up, workspace creation and removal, exit. Under -race the
// binary is race-built and much slower; measure without it, or better with
// hyperfine (see README).
func BenchmarkRunSuccess(b *testing.B) {
	env := newProcB(b)
	for b.Loop() {
		cmd := exec.Command(bin, "run", "success")
		cmd.Env = env
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

func newProcB(b *testing.B) []string {
	return []string{"TMPDIR=" + b.TempDir(), "XDG_STATE_HOME=" + b.TempDir(), "HOME=" + b.TempDir()}
}

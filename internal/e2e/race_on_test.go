//go:build race

package e2e_test

// raceEnabled: the test binary runs under the race detector, so the
// bgtask binary under test is built with -race too.
const raceEnabled = true

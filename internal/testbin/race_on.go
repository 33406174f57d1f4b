//go:build race

package testbin

// raceEnabled: the tests run under the race detector, so the binary under
// test is built with -race too.
const raceEnabled = true

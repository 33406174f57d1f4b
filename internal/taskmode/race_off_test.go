//go:build !race

package taskmode_test

const raceEnabled = false

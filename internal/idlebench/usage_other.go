//go:build !linux

package idlebench

import "time"

// CPU accounting is only implemented on Linux; elsewhere the figures that
// need it are reported as zero.

func threadCPU() time.Duration  { return 0 }
func processCPU() time.Duration { return 0 }

type machineTimes struct{ busy, idle, steal time.Duration }

func readMachine() machineTimes                        { return machineTimes{} }
func (m machineTimes) sub(o machineTimes) machineTimes { return machineTimes{} }

func renice19() {}

func sleepPrecise(d time.Duration) { time.Sleep(d) }

func readThreadWait() map[string]threadWait { return nil }

func loadAvg() float64 { return -1 }

func threadUsage() (time.Duration, int64) { return 0, 0 }

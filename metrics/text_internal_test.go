package metrics

import (
	"math"
	"testing"
)

func TestAppendEscaped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, label, help string
	}{
		{"plain", "plain", "plain"},
		{`a"b`, `a\"b`, `a"b`},
		{`a\b`, `a\\b`, `a\\b`},
		{"a\nb", `a\nb`, `a\nb`},
		{"\\\"\n", `\\\"\n`, `\\"\n`},
		{"ünï €", "ünï €", "ünï €"},
	}
	for _, tt := range tests {
		if got := string(appendEscaped(nil, tt.in, true)); got != tt.label {
			t.Errorf("label value %q escaped to %q, want %q", tt.in, got, tt.label)
		}
		if got := string(appendEscaped(nil, tt.in, false)); got != tt.help {
			t.Errorf("help %q escaped to %q, want %q", tt.in, got, tt.help)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {0.001, "0.001"}, {4194.304, "4194.304"}, {1e21, "1e+21"},
		{math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"},
	}
	for _, tt := range tests {
		if got := string(appendFloat(nil, tt.in)); got != tt.want {
			t.Errorf("appendFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"deflate, gzip", true},
		{"gzip;q=0.5", true},
		{"gzip; q=1.0, identity", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000", false},
		{"x-gzip", false},
		{"identity", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestLeValues(t *testing.T) {
	t.Parallel()
	for i, ub := range durationBuckets {
		if got := string(appendFloat(nil, ub)); got != leValues[i] {
			t.Errorf("leValues[%d] = %q, want %q", i, leValues[i], got)
		}
	}
}

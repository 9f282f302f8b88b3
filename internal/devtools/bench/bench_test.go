package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tinySizes run every group in a few seconds: the test proves the suite
// works end to end, not how fast anything is.
var tinySizes = Sizes{
	EnqueueRows: 200, DispatchTasks: 200, Rounds: 1,
	RateRecipients: 100, RTTRecipients: 100,
	MemoryRows: 300,
}

// figureLine is the format every figure is printed in.
var figureLine = regexp.MustCompile(`^\S[^:]*(: [^:]+)?: -?[0-9.]+( \S+)? \((baseline [^,]+.*, )?(ratio [0-9.]+|ratio NaN|ratio \+Inf)?.*(target [^:]+: (PASS|FAIL)|no target: INFO)\)$`)

func TestQuickSuiteProducesEveryFigure(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and worker processes (about 15s)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH; the suite starts its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, log bytes.Buffer
	figs, err := Run(ctx, Config{Quick: true, Sizes: tinySizes, Out: &out, Log: &log})
	if err != nil {
		t.Fatalf("Run: %v\nfigures:\n%s\nlog:\n%s", err, out.String(), log.String())
	}
	// Speed is what the suite measures, never what the test asserts: only
	// that every figure was measured and printed.
	want := map[string]int{"1 ": 1, "2 ": 1, "2b ": 1, "3 ": 10, "4 ": 1, "4b ": 1, "5 ": 1, "6 ": 2, "7 ": 2}
	got := map[string]int{}
	for _, f := range figs {
		prefix, _, _ := strings.Cut(f.Name, " ")
		got[prefix+" "]++
		line, _, _ := strings.Cut(f.String(), "\n")
		if !figureLine.MatchString(line) {
			t.Errorf("figure line %q does not read \"name: value (baseline …, ratio X, target Y: PASS/FAIL)\"", line)
		}
		if !strings.Contains(out.String(), line) {
			t.Errorf("figure %q was not printed", f.Name)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("figures numbered %q: got %d, want %d\n%s", k, got[k], n, out.String())
		}
	}
	if !regexp.MustCompile(`\d+ cores`).MatchString(out.String()) {
		t.Errorf("output does not give the machine's cores:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestCommandRejectsBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want error
	}{
		{[]string{"--only", "nosuch"}, ErrUsage},
		{[]string{"--only", "enqueue,"}, ErrUsage},
		{[]string{"--frobnicate"}, ErrUsage},
		{[]string{"extra"}, ErrUsage},
		{[]string{"--help"}, flag.ErrHelp},
	}
	for _, tt := range tests {
		err := Command(context.Background(), tt.args, io.Discard, io.Discard)
		if !errors.Is(err, tt.want) {
			t.Errorf("Command(%q): got %v, want %v", tt.args, err, tt.want)
		}
	}
}

func TestFigureString(t *testing.T) {
	tests := []struct {
		f    Figure
		want string
	}{
		{Figure{Name: "1 enqueue", Value: 12000, Unit: "rows/s", Baseline: "raw 15000 tasks/s", Ratio: 0.8, Target: "ratio ≥ 0.8", Pass: true},
			"1 enqueue: 12000 rows/s (baseline raw 15000 tasks/s, ratio 0.800, target ratio ≥ 0.8: PASS)"},
		{Figure{Name: "3 rate: 429s", Value: 2, Baseline: "limit 500/s", Ratio: nan(), Target: "= 0"},
			"3 rate: 429s: 2 (baseline limit 500/s, target = 0: FAIL)"},
		{Figure{Name: "6 bytes", Value: 992.4, Unit: "B", Baseline: "raw 753 B", Ratio: 1.318, Note: "detail"},
			"6 bytes: 992 B (baseline raw 753 B, ratio 1.318, no target: INFO)\n    detail"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func nan() float64 { return math.NaN() }

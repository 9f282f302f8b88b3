// Package harness runs fault scenarios end to end over real processes: a
// private redis-server with the AOF on, the Sinch simulator (cmd/sinchsim),
// cmd/enqueue and one to three cmd/worker processes, all built with
// go build. Each scenario injects a fault (a worker killed or stopped, Redis
// restarted, Sinch failing, a poison task) and checks the invariants a
// bulk sender must keep: nobody lost, nobody sent twice unless Sinch's
// answer was lost, every failure archived with a reason, nothing stuck.
package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// Recipients per scenario: CI keeps the run short, the soak is the issue's
// 10,000.
const (
	CIRecipients   = 2000
	SoakRecipients = 10000
)

// Config selects what Run does.
type Config struct {
	Scenarios  []int // IDs to run; empty: CIScenarios, or all with Soak
	Soak       bool  // every scenario, SoakRecipients each
	Recipients int   // overrides the number of recipients when > 0
	Out        io.Writer
	Log        io.Writer // progress lines; nil discards
}

// ErrFailed is returned by Run when an invariant broke in some scenario.
var ErrFailed = errors.New("FAIL: an invariant broke (see the table)")

// ErrUsage marks a bad command line: cli.Main exits 2 for it.
var ErrUsage = cli.ErrUsage

type harness struct {
	binDir, tmp string
	n           int
	nGiven      bool // --recipients was given
	log         io.Writer
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (h *harness) stack(ctx context.Context, simArgs ...string) (*stack, error) {
	return newStack(ctx, h.binDir, h.tmp, h.logf, simArgs...)
}

// Run builds the binaries, runs the selected scenarios one after the
// other, prints the table to cfg.Out and returns ErrFailed (joined with
// nothing else) when any invariant broke.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	ids := cfg.Scenarios
	if len(ids) == 0 {
		ids = CIScenarios
		if cfg.Soak {
			ids = nil
			for _, s := range scenarios {
				ids = append(ids, s.id)
			}
		}
	}
	var selected []scenario
	for _, s := range scenarios {
		if slices.Contains(ids, s.id) {
			selected = append(selected, s)
		}
	}
	for _, id := range ids {
		if !slices.ContainsFunc(scenarios, func(s scenario) bool { return s.id == id }) {
			return nil, fmt.Errorf("%w: unknown scenario %d (1 to %d)", ErrUsage, id, len(scenarios))
		}
	}
	h := &harness{n: CIRecipients, log: cfg.Log}
	if cfg.Soak {
		h.n = SoakRecipients
	}
	if cfg.Recipients > 0 {
		h.n, h.nGiven = cfg.Recipients, true
	}
	if h.log == nil {
		h.log = io.Discard
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	tmp, err := os.MkdirTemp("", "sinch-dispatch-harness")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	h.tmp, h.binDir = tmp, filepath.Join(tmp, "bin")
	h.logf("building cmd/worker, cmd/enqueue and cmd/sinchsim")
	if err := procs.Build(ctx, h.binDir, "worker", "enqueue", "sinchsim"); err != nil {
		return nil, err
	}
	var results []Result
	for _, s := range selected {
		h.logf("scenario %d: %s, %d recipients", s.id, s.name, h.n)
		r := Result{ID: s.id, Name: s.name, ActiveLeft: -1}
		if err := s.run(ctx, h, &r); err != nil {
			r.Err = err
		}
		results = append(results, r)
		h.logf("scenario %d done in %s", s.id, formatDuration(r.Time))
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(out, "sinch-dispatch fault scenarios, %d recipients each\n", h.n)
	WriteTable(out, results)
	for _, r := range results {
		if len(r.Violations()) > 0 {
			return results, ErrFailed
		}
	}
	return results, nil
}

// Command is cmd/harness: it parses args, runs and prints the table.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.String("scenarios", "", "scenarios to run, e.g. 3,4,5 (default: 3,4,5; with --soak: all)")
	soak := fs.Bool("soak", false, fmt.Sprintf("run every scenario, SIGKILL recovery and Redis restarts included, with %d recipients", SoakRecipients))
	n := fs.Int("recipients", 0, fmt.Sprintf("recipients per scenario (default %d, or %d with --soak)", CIRecipients, SoakRecipients))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: harness [--scenarios 3,4,5] [--soak] [--recipients N]\n\nScenarios:\n")
		for _, s := range scenarios {
			fmt.Fprintf(stderr, "  %d  %s\n", s.id, s.name)
		}
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *n < 0 {
		return fmt.Errorf("%w: --recipients must not be negative", ErrUsage)
	}
	ids, err := parseScenarios(*list)
	if err != nil {
		return err
	}
	_, err = Run(ctx, Config{Scenarios: ids, Soak: *soak, Recipients: *n, Out: stdout, Log: stderr})
	return err
}

// parseScenarios reads "3,4,5"; empty means the default set.
func parseScenarios(s string) ([]int, error) {
	var ids []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.Atoi(f)
		if err != nil || id < 1 || id > len(scenarios) {
			return nil, fmt.Errorf("%w: --scenarios: %q is not a scenario (1 to %d)", ErrUsage, f, len(scenarios))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Package bench is the benchmark suite: it measures the enqueue
// pipeline, the worker's send path, the accuracy of the global rate limit
// across worker processes, latency hiding, tolerance of a distant Redis and
// memory use, each figure next to a baseline measured in the same run.
//
// Everything runs on this machine and talks only to 127.0.0.1: the suite
// starts its own redis-server (so FLUSHALL and INFO memory see only what a
// measurement did), serves the Sinch simulator in-process, and runs the
// worker and enqueue binaries as real processes where the figure is about
// processes. Every loop is bounded by a count and a timeout.
package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
)

// Groups are the figure groups, in the order they run; --only takes these names.
var Groups = []string{"enqueue", "dispatch", "rate", "latency", "rtt", "memory", "upload", "apps"}

// OptionalGroups run only when --only names them: they take long or need
// much memory (tenmillion: a 10,000,000-row upload, about 2 GB of Redis).
var OptionalGroups = []string{"tenmillion"}

// groupsNeedingBinaries run the worker or enqueue binary as a process.
var groupsNeedingBinaries = []string{"rate", "latency", "rtt", "memory", "upload", "apps", "tenmillion"}

// Sizes bound the work of each group.
type Sizes struct {
	EnqueueRows    int   // CSV rows per enqueue measurement (1)
	DispatchTasks  int   // tasks per dispatch measurement (2)
	Rounds         int   // alternating baseline/subject rounds of 1 and 2; the best of each is kept
	RateRecipients int   // recipients per rate-accuracy and latency run (3, 4)
	RTTRecipients  int   // recipients per Redis-RTT run (5)
	ServersSweep   []int // explicit --servers values tried in 5, besides the default
	MemoryRows     int   // CSV rows of the memory run (6)
}

// FullSizes are the sizes of a full run; QuickSizes of a smoke run (--quick).
var (
	FullSizes = Sizes{
		EnqueueRows: 50_000, DispatchTasks: 10_000, Rounds: 3,
		RateRecipients: 5_000, RTTRecipients: 8_000, ServersSweep: []int{1, 2, 4, 8, 16},
		MemoryRows: 1_000_000,
	}
	QuickSizes = Sizes{
		EnqueueRows: 5_000, DispatchTasks: 2_000, Rounds: 1,
		RateRecipients: 500, RTTRecipients: 1_000, MemoryRows: 20_000,
	}
)

// Config configures one run of the suite.
type Config struct {
	// Only lists the groups to run (see Groups). Defaults to all.
	Only []string
	// Quick selects QuickSizes instead of FullSizes.
	Quick bool
	// Sizes overrides the sizes chosen by Quick when its EnqueueRows is set.
	Sizes Sizes
	// Out receives the figures. Defaults to io.Discard.
	Out io.Writer
	// Log receives progress lines. Defaults to io.Discard.
	Log io.Writer
	// CPUProfile, when set, writes a CPU profile of this process (the
	// in-process groups: enqueue, dispatch, and the simulator) to the file.
	CPUProfile string
	// WorkerProfiles, when set, is a directory that receives a CPU profile
	// of every worker process (groups rate, latency, rtt), named after the
	// run and the worker's index.
	WorkerProfiles string
}

// Figure is one measured figure with its same-run baseline.
type Figure struct {
	Name     string
	Value    float64
	Unit     string
	Baseline string  // what the value is compared with, with its value and unit
	Ratio    float64 // NaN when there is no meaningful ratio
	Target   string  // e.g. "ratio ≥ 0.8"; "" when the figure is reported only
	Pass     bool
	Note     string // details printed under the figure
	// Sweep marks a point of a parameter sweep: its target says whether
	// that setting reaches the goal, and it is not counted among the targets.
	Sweep bool
}

// String renders "name: value (baseline …, ratio X, target Y: PASS/FAIL)".
func (f Figure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", f.Name, num(f.Value))
	if f.Unit != "" {
		b.WriteString(" " + f.Unit)
	}
	var parts []string
	if f.Baseline != "" {
		parts = append(parts, "baseline "+f.Baseline)
	}
	if !math.IsNaN(f.Ratio) {
		parts = append(parts, fmt.Sprintf("ratio %.3f", f.Ratio))
	}
	switch {
	case f.Target == "":
		parts = append(parts, "no target: INFO")
	case f.Pass:
		parts = append(parts, "target "+f.Target+": PASS")
	default:
		parts = append(parts, "target "+f.Target+": FAIL")
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	for line := range strings.SplitSeq(f.Note, "\n") {
		if line != "" {
			b.WriteString("\n    " + line)
		}
	}
	return b.String()
}

// num formats a figure with the precision it deserves.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// harness is what the groups share: the private Redis, the binaries, a
// temporary directory and the sizes.
type harness struct {
	sizes  Sizes
	redis  *procs.Redis
	binDir string
	tmp    string
	log    io.Writer
	// profiles is Config.WorkerProfiles.
	profiles string
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Run runs the selected groups and writes each figure to cfg.Out as soon as
// it is measured. A group that cannot run is reported and the others go on;
// the returned error joins such failures. A missed target is not an error.
func Run(ctx context.Context, cfg Config) ([]Figure, error) {
	out, logw := cmpWriter(cfg.Out), cmpWriter(cfg.Log)
	sizes := FullSizes
	if cfg.Quick {
		sizes = QuickSizes
	}
	if cfg.Sizes.EnqueueRows > 0 {
		sizes = cfg.Sizes
	}
	sizes.Rounds = max(1, sizes.Rounds)
	only := cfg.Only
	if len(only) == 0 {
		only = Groups
	}
	for _, g := range only {
		if !knownGroup(g) {
			return nil, fmt.Errorf("unknown group %q (one of %s)", g, strings.Join(allGroups(), ", "))
		}
	}

	tmp, err := os.MkdirTemp("", "sinch-dispatch-bench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	h := &harness{sizes: sizes, tmp: tmp, log: logw, profiles: cfg.WorkerProfiles}
	if h.profiles != "" {
		if err := os.MkdirAll(h.profiles, 0o755); err != nil {
			return nil, fmt.Errorf("worker profiles: %w", err)
		}
	}

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}

	if slices.ContainsFunc(only, func(g string) bool { return slices.Contains(groupsNeedingBinaries, g) }) {
		h.binDir = filepath.Join(tmp, "bin")
		h.logf("building cmd/worker, cmd/enqueue and cmd/dashboard")
		if err := procs.Build(ctx, h.binDir, "worker", "enqueue", "dashboard"); err != nil {
			return nil, err
		}
	}
	if h.redis, err = procs.StartRedis(ctx, tmp, procs.RedisOptions{}); err != nil {
		return nil, err
	}
	defer h.redis.Close()

	mode := "full"
	if cfg.Quick {
		mode = "quick"
	}
	fmt.Fprintf(out, "sinch-dispatch benchmarks (%s): %d cores (GOMAXPROCS %d), %s/%s, %s, redis %s (private, %s)\n",
		mode, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), h.redis.Version, h.redis.Addr)

	run := map[string]func(context.Context, *harness) ([]Figure, error){
		"enqueue": benchEnqueue, "dispatch": benchDispatch, "rate": benchRate,
		"latency": benchLatency, "rtt": benchRTT, "memory": benchMemory, "upload": benchUpload, "apps": benchApps,
		"tenmillion": benchTenMillion,
	}
	var all []Figure
	var errs []error
	for _, g := range allGroups() {
		if !slices.Contains(only, g) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		h.logf("group %s", g)
		start := time.Now()
		figs, err := run[g](ctx, h)
		for _, f := range figs {
			fmt.Fprintln(out, f)
		}
		all = append(all, figs...)
		if err != nil {
			fmt.Fprintf(out, "%s: ERROR: %v\n", g, err)
			errs = append(errs, fmt.Errorf("%s: %w", g, err))
		}
		h.logf("group %s done in %s", g, time.Since(start).Round(time.Millisecond))
	}
	met, targets := 0, 0
	for _, f := range all {
		if f.Target != "" && !f.Sweep {
			targets++
			if f.Pass {
				met++
			}
		}
	}
	fmt.Fprintf(out, "%d of %d targets met (sweep points not counted)\n", met, targets)
	return all, errors.Join(errs...)
}

// allGroups is Groups then OptionalGroups, in the order they run.
func allGroups() []string { return slices.Concat(Groups, OptionalGroups) }

func knownGroup(g string) bool { return slices.Contains(allGroups(), g) }

func cmpWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// ErrUsage marks a command-line error: cli.Main exits 2 for it.
var ErrUsage = cli.ErrUsage

const usage = `bench [--only GROUP[,GROUP...]] [--quick] [--cpuprofile FILE] [--worker-cpuprofiles DIR]`

// Command is the bench command: it parses args and runs the suite, figures on
// stdout and progress on stderr.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", "", "run only these groups, comma-separated: "+strings.Join(Groups, ", ")+
		"; and, only when named, "+strings.Join(OptionalGroups, ", "))
	quick := fs.Bool("quick", false, "smaller sizes, for a smoke run (figures are less meaningful)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the bench process (in-process groups and the simulator) to this file")
	workerProfiles := fs.String("worker-cpuprofiles", "", "write a CPU profile of every worker process (groups rate, latency, rtt) into this directory")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nGroups: %s.\nFlags (each also accepts --name):\n", usage, strings.Join(Groups, ", "))
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	cfg := Config{Quick: *quick, Out: stdout, Log: stderr, CPUProfile: *cpuProfile, WorkerProfiles: *workerProfiles}
	if *only != "" {
		for g := range strings.SplitSeq(*only, ",") {
			g = strings.TrimSpace(g)
			if !knownGroup(g) {
				return fmt.Errorf("%w: --only: unknown group %q (one of %s)", ErrUsage, g, strings.Join(allGroups(), ", "))
			}
			cfg.Only = append(cfg.Only, g)
		}
	}
	_, err := Run(ctx, cfg)
	return err
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// Command is one binary's entry point.
type Command func(ctx context.Context, args []string, getenv Env, stdout, stderr io.Writer) error

// Main runs cmd with the process's arguments and environment, cancels it on
// SIGINT/SIGTERM, and returns the exit code: 0 ok or --help, 2 usage, 1 other.
//
// With CPUProfileEnv set to a file name, it writes a CPU profile of the whole
// run there (the benchmark suite profiles worker processes this way).
func Main(name string, cmd Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if path := os.Getenv(CPUProfileEnv); path != "" {
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return ExitCode(name, err, os.Stderr)
		}
		defer stopProfile()
	}
	return ExitCode(name, cmd(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr), os.Stderr)
}

// CPUProfileEnv names the environment variable that makes Main write a CPU
// profile of the command.
const CPUProfileEnv = "SINCH_DISPATCH_CPUPROFILE"

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CPUProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", CPUProfileEnv, err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func ExitCode(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v (see --help)\n", name, err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: error: %v\n", name, err)
	return 1
}

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Command is one binary's entry point.
type Command func(ctx context.Context, args []string, getenv Env, stdout, stderr io.Writer) error

// Main runs cmd with the process's arguments and environment, cancels it on
// SIGINT/SIGTERM, and returns the exit code: 0 ok or --help, 2 usage, 1 other.
func Main(name string, cmd Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return ExitCode(name, cmd(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr), os.Stderr)
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

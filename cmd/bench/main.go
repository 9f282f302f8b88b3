// Command bench runs the benchmark suite (see internal/bench and BENCHMARKS.md):
//
//	go run ./cmd/bench [--only GROUP[,GROUP...]] [--quick]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sinch-dispatch/sinch-dispatch/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := bench.Command(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, bench.ErrUsage):
		fmt.Fprintf(os.Stderr, "bench: %v (see --help)\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "bench: error: %v\n", err)
		os.Exit(1)
	}
}

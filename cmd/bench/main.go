// Command bench runs the benchmark suite (see internal/bench and BENCHMARKS.md):
//
//	go run ./cmd/bench [--only GROUP[,GROUP...]] [--quick]
package main

import (
	"context"
	"io"
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/bench"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() {
	os.Exit(cli.Main("bench", func(ctx context.Context, args []string, _ cli.Env, stdout, stderr io.Writer) error {
		return bench.Command(ctx, args, stdout, stderr)
	}))
}

// Command bench runs the benchmark suite (see internal/devtools/bench and BENCHMARKS.md):
//
//	go run ./cmd/bench [--only GROUP[,GROUP...]] [--quick]
package main

import (
	"context"
	"io"
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/bench"
)

func main() {
	os.Exit(cli.Main("bench", func(ctx context.Context, args []string, _ cli.Env, stdout, stderr io.Writer) error {
		return bench.Command(ctx, args, stdout, stderr)
	}))
}

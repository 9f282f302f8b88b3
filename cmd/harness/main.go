// Command harness runs the fault scenarios (see internal/devtools/harness and
// docs/reliability.md) and prints their table:
//
//	go run ./cmd/harness [--scenarios 3,4,5] [--soak] [--recipients N]
//
// It exits 1 when an invariant broke, 2 on a bad command line.
package main

import (
	"context"
	"io"
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/harness"
)

func main() {
	os.Exit(cli.Main("harness", func(ctx context.Context, args []string, _ cli.Env, stdout, stderr io.Writer) error {
		return harness.Command(ctx, args, stdout, stderr)
	}))
}

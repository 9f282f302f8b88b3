// Command enqueue: see internal/cli (Enqueue) and README.md.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("enqueue", cli.Enqueue)) }

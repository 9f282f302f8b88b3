// Command worker: see internal/cli (Worker) and README.md.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("worker", cli.Worker)) }

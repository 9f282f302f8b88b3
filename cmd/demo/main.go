// Command demo runs a sample campaign end to end against embedded Redis and
// the built-in Sinch simulator: see README.md.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("demo", cli.Demo)) }

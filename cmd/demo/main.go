// Command demo runs a sample campaign end to end on embedded Redis and the built-in simulator.
// See internal/democli and docs/.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/democli"
)

func main() { os.Exit(cli.Main("demo", democli.Run)) }

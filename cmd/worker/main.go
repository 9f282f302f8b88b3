// Command worker sends queued messages through Sinch until SIGTERM.
// See internal/workercli and docs/.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

func main() { os.Exit(cli.Main("worker", workercli.Main)) }

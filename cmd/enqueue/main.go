// Command enqueue validates a recipients CSV and queues one send per recipient.
// See internal/enqueuecli and docs/.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
)

func main() { os.Exit(cli.Main("enqueue", enqueuecli.Run)) }

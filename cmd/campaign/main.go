// Command campaign runs operator actions on campaigns (status, report, retry, pause, resume, cancel, track, suppress).
// See internal/campaigncli and docs/.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaigncli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("campaign", campaigncli.Run)) }

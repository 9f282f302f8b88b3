// Command campaign: operations on campaigns (status, report, retry, pause,
// resume, cancel, track, suppress); see internal/cli (Campaign) and README.md.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("campaign", cli.Campaign)) }

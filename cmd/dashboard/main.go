// Command dashboard: see internal/cli (Dashboard) and README.md.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
)

func main() { os.Exit(cli.Main("dashboard", cli.Dashboard)) }

// Command dashboard serves the campaign pages, the JSON API, asynqmon and the delivery-receipt webhook.
// See internal/dashboardcli and docs/.
package main

import (
	"os"

	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/dashboardcli"
)

func main() { os.Exit(cli.Main("dashboard", dashboardcli.Run)) }

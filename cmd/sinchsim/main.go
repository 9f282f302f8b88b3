// Command sinchsim serves a simulated Sinch Conversation API (see package
// internal/sinch/sinchsim) for tests, demos, benchmarks and as a sandbox.
//
//	go run ./cmd/sinchsim --help
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sinchsim:", err)
		os.Exit(1)
	}
}

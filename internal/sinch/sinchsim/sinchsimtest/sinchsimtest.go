// Package sinchsimtest serves the Sinch simulator inside tests. It lives
// apart from sinchsim so that binaries linking the simulator (demo,
// sinchsim) do not link the testing package.
package sinchsimtest

import (
	"net/http/httptest"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// Serve starts a simulator with cfg on a local httptest server and
// returns it with its URL; both are closed when tb ends.
func Serve(tb testing.TB, cfg sinchsim.Config) (*sinchsim.Server, string) {
	tb.Helper()
	sim, err := sinchsim.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	tb.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

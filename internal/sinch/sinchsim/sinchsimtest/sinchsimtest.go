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

// Env is the environment a command needs to run against the simulator at
// simURL with its default project, app and key, and Redis at redisURL.
func Env(simURL, redisURL string) map[string]string {
	return map[string]string{
		"REDIS_URL":        redisURL,
		"SINCH_PROJECT_ID": sinchsim.DefaultProjectID,
		"SINCH_APP_ID":     sinchsim.DefaultAppID,
		"SINCH_KEY_ID":     sinchsim.DefaultKeyID,
		"SINCH_KEY_SECRET": sinchsim.DefaultKeySecret,
		"SINCH_BASE_URL":   simURL,
		"SINCH_AUTH_URL":   simURL + "/oauth2/token",
	}
}

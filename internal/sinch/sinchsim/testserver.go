package sinchsim

import (
	"net/http/httptest"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// ServeTest starts a simulator with cfg on a local httptest server and
// returns it with its URL; both are closed when tb ends.
func ServeTest(tb testing.TB, cfg Config) (*Server, string) {
	tb.Helper()
	sim, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	tb.Cleanup(func() { ts.Close(); sim.Close() })
	return sim, ts.URL
}

// ClientConfig is the sinch.Config that calls a simulator served at
// baseURL with the simulator's default project, app and credentials.
func ClientConfig(baseURL string) sinch.Config {
	return sinch.Config{
		ProjectID: DefaultProjectID, AppID: DefaultAppID,
		KeyID: DefaultKeyID, KeySecret: DefaultKeySecret,
		BaseURL: baseURL, TokenURL: baseURL + "/oauth2/token",
	}
}

package sinch_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func validConfig() sinch.Config {
	return sinch.Config{ProjectID: testProject, AppID: testApp, KeyID: testKeyID, KeySecret: testSecret}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*sinch.Config)
		wantErr string // substring; empty means valid
	}{
		{"valid with defaults", func(*sinch.Config) {}, ""},
		{"ProjectID", func(c *sinch.Config) { c.ProjectID = "" }, "sinch: ProjectID is required"},
		{"AppID", func(c *sinch.Config) { c.AppID = "" }, "sinch: AppID is required"},
		{"KeyID", func(c *sinch.Config) { c.KeyID = "" }, "sinch: KeyID is required"},
		{"KeySecret", func(c *sinch.Config) { c.KeySecret = "" }, "sinch: KeySecret is required"},
		{"Region", func(c *sinch.Config) { c.Region = "ap" }, "sinch: Region must be one of us, eu, br"},
		{"Region is case-sensitive", func(c *sinch.Config) { c.Region = "EU" }, "sinch: Region must be one of us, eu, br"},
		{"Region ignored with BaseURL", func(c *sinch.Config) { c.Region = "ap"; c.BaseURL = "http://localhost:8080" }, ""},
		{"BaseURL relative", func(c *sinch.Config) { c.BaseURL = "/api" }, "sinch: BaseURL must be an absolute http or https URL"},
		{"BaseURL scheme", func(c *sinch.Config) { c.BaseURL = "ftp://host" }, "sinch: BaseURL must be an absolute http or https URL"},
		{"BaseURL credentials", func(c *sinch.Config) { c.BaseURL = "https://u:p@host" }, "sinch: BaseURL must not contain credentials"},
		{"BaseURL query", func(c *sinch.Config) { c.BaseURL = "https://host/?x=1" }, "sinch: BaseURL must not have a query or fragment"},
		{"BaseURL unparsable", func(c *sinch.Config) { c.BaseURL = "http://[::1" }, "sinch: BaseURL is not a valid URL"},
		{"Auth", func(c *sinch.Config) { c.Auth = "apikey" }, "sinch: Auth must be one of oauth2, basic"},
		{"TokenURL", func(c *sinch.Config) { c.TokenURL = "auth.sinch.com/oauth2/token" }, "sinch: TokenURL must be an absolute http or https URL"},
		{"TokenURL ignored with basic auth", func(c *sinch.Config) { c.Auth = sinch.AuthBasic; c.TokenURL = "nonsense" }, ""},
		{"Timeout", func(c *sinch.Config) { c.Timeout = -time.Second }, "sinch: Timeout must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.mod(&cfg)
			c, err := sinch.New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: got %v, want an error containing %q", err, tt.wantErr)
			case tt.wantErr == "" && c == nil:
				t.Fatal("New: got a nil client")
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %q contains the key secret", err)
			}
		})
	}
}

func TestNewReportsEveryInvalidField(t *testing.T) {
	_, err := sinch.New(sinch.Config{Region: "xx", Timeout: -1})
	for _, field := range []string{"ProjectID", "AppID", "KeyID", "KeySecret", "Region", "Timeout"} {
		if err == nil || !strings.Contains(err.Error(), "sinch: "+field) {
			t.Errorf("New: got %v, want it to name %s", err, field)
		}
	}
}

func TestBaseURLSelection(t *testing.T) {
	tests := []struct {
		region, baseURL, want string
	}{
		{"", "", "https://us.conversation.api.sinch.com/"},
		{"us", "", "https://us.conversation.api.sinch.com/"},
		{"eu", "", "https://eu.conversation.api.sinch.com/"},
		{"br", "", "https://br.conversation.api.sinch.com/"},
		{"eu", "http://127.0.0.1:9000", "http://127.0.0.1:9000/"},
		{"", "https://proxy.example/sinch/v2", "https://proxy.example/sinch/v2/"},
		{"", "https://proxy.example/sinch/", "https://proxy.example/sinch/"},
	}
	for _, tt := range tests {
		cfg := validConfig()
		cfg.Region, cfg.BaseURL = tt.region, tt.baseURL
		c, err := sinch.New(cfg)
		if err != nil {
			t.Fatalf("New(region %q, base %q): %v", tt.region, tt.baseURL, err)
		}
		if got := c.BaseURL(); got != tt.want {
			t.Errorf("BaseURL(region %q, base %q): got %q, want %q", tt.region, tt.baseURL, got, tt.want)
		}
		req, err := c.NewRequest(http.MethodGet, "v1/projects/p/messages", nil)
		if err != nil {
			t.Fatalf("NewRequest: %v", err)
		}
		if got, want := req.URL.String(), tt.want+"v1/projects/p/messages"; got != want {
			t.Errorf("request URL: got %q, want %q", got, want)
		}
	}
}

func TestClientAccessors(t *testing.T) {
	c, err := sinch.New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.ProjectID() != testProject || c.AppID() != testApp {
		t.Errorf("ProjectID, AppID: got %q, %q, want %q, %q", c.ProjectID(), c.AppID(), testProject, testApp)
	}
}

func TestHTTPClientTransportUsedWithConfigTimeout(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Hang") != "" {
			<-r.Context().Done()
			return
		}
		sendOK(w, r)
	})
	var trips atomic.Int64
	var hang atomic.Bool
	base := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		if hang.Load() {
			r.Header.Set("X-Hang", "1")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := f.client(t, func(cfg *sinch.Config) { cfg.HTTPClient, cfg.Timeout = base, 200*time.Millisecond })

	if _, err := send(t, c); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if got, want := trips.Load(), int64(2); got != want {
		t.Errorf("round trips through the given transport: got %d, want %d (token and send)", got, want)
	}
	hang.Store(true)
	_, err := send(t, c)
	var te *sinch.TransportError
	if !errors.As(err, &te) || !te.Timeout() {
		t.Errorf("err: got %v, want a timeout from Config.Timeout", err)
	}
	if base.Timeout != 0 {
		t.Errorf("caller's HTTPClient.Timeout: got %s, want it untouched (0)", base.Timeout)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSendGoesThroughNetHTTPWhenAProxyApplies: the send leaves net/http only
// when net/http would connect directly; a proxy (HTTPS_PROXY and the like)
// or the caller's own HTTPClient keep it there, with its transport.
func TestSendGoesThroughNetHTTPWhenAProxyApplies(t *testing.T) {
	f := newFake(t, sendOK)
	noProxy := func(*http.Request) (*url.URL, error) { return nil, nil }
	var asked *url.URL
	viaProxy := func(r *http.Request) (*url.URL, error) { asked = r.URL; return url.Parse("http://proxy.example:3128") }
	badProxy := func(*http.Request) (*url.URL, error) { return nil, errors.New("invalid proxy setting") }
	for _, tt := range []struct {
		name   string
		mod    func(*sinch.Config)
		proxy  func(*http.Request) (*url.URL, error)
		direct bool
	}{
		{"no proxy", nil, noProxy, true},
		{"a proxy", nil, viaProxy, false},
		{"a bad proxy setting", nil, badProxy, false},
		{"the caller's HTTPClient", func(c *sinch.Config) { c.HTTPClient = &http.Client{} }, noProxy, false},
	} {
		cfg := f.config()
		if tt.mod != nil {
			tt.mod(&cfg)
		}
		got, err := sinch.SendsDirectWith(cfg, tt.proxy)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got != tt.direct {
			t.Errorf("%s: direct got %v, want %v", tt.name, got, tt.direct)
		}
	}
	if want := "/v1/projects/" + testProject + "/messages:send"; asked == nil || !strings.HasSuffix(asked.Path, want) {
		t.Errorf("proxy asked for %v, want the messages:send URL (path %s)", asked, want)
	}
}

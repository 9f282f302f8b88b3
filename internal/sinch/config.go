package sinch

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Regions accepted by Config.Region.
const (
	RegionUS = "us"
	RegionEU = "eu"
	RegionBR = "br"
)

// Regions lists the valid Config.Region values.
var Regions = []string{RegionUS, RegionEU, RegionBR}

// AuthMode selects how API calls are authenticated.
type AuthMode string

const (
	// AuthOAuth2 exchanges the access key for a bearer token (client
	// credentials grant) that is cached and shared by all calls.
	AuthOAuth2 AuthMode = "oauth2"
	// AuthBasic sends the access key as HTTP Basic credentials on every call.
	// Sinch rate-limits it more strictly; prefer OAuth2 in production.
	AuthBasic AuthMode = "basic"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultRegion   = RegionUS
	DefaultAuth     = AuthOAuth2
	DefaultTokenURL = "https://auth.sinch.com/oauth2/token"
	DefaultTimeout  = 10 * time.Second
)

// baseURLTemplate is the regional API host; %s is the region.
const baseURLTemplate = "https://%s.conversation.api.sinch.com/"

// Config configures a Client. Build one with New, which validates it.
type Config struct {
	// ProjectID is the Sinch project that owns the app. Required; no default.
	ProjectID string

	// AppID is the Conversation API app used by GetApp and filled into send
	// requests that leave app_id empty. Required; no default.
	AppID string

	// KeyID is the access key ID (the OAuth2 client ID). Required; no default.
	KeyID string

	// KeySecret is the access key secret. Required; no default. It is never
	// included in errors or logs.
	KeySecret string

	// Region is the API region: "us", "eu" or "br"; it must match the region
	// the app was created in. Ignored when BaseURL is set. Defaults to
	// DefaultRegion ("us").
	Region string

	// BaseURL overrides the regional API URL, e.g. for a simulator. It may
	// carry a path prefix. Defaults to "" (https://{Region}.conversation.api.sinch.com).
	BaseURL string

	// Auth selects OAuth2 bearer tokens or HTTP Basic. Defaults to AuthOAuth2.
	Auth AuthMode

	// TokenURL is the OAuth2 token endpoint, used only with AuthOAuth2.
	// Defaults to DefaultTokenURL (https://auth.sinch.com/oauth2/token).
	TokenURL string

	// Timeout bounds one HTTP exchange (API call or token request), including
	// reading the response. Defaults to DefaultTimeout (10s).
	Timeout time.Duration

	// HTTPClient supplies the transport, redirect policy and cookie jar. Its
	// Timeout is replaced by Config.Timeout (the caller's client is not
	// modified). Defaults to nil: a clone of http.DefaultTransport keeping
	// 512 idle connections per host, sized for bulk sending.
	HTTPClient *http.Client

	// Logger receives debug lines about calls and token refreshes. It never
	// gets secrets, tokens, phone numbers, query strings or bodies. Defaults
	// to nil (discard).
	Logger *slog.Logger
}

// withDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Region = cmp.Or(c.Region, DefaultRegion)
	c.Auth = cmp.Or(c.Auth, DefaultAuth)
	c.TokenURL = cmp.Or(c.TokenURL, DefaultTokenURL)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a defaulted config; every message names the field.
func (c Config) validate() error {
	var errs []error
	required := []struct{ name, value string }{
		{"ProjectID", c.ProjectID}, {"AppID", c.AppID}, {"KeyID", c.KeyID}, {"KeySecret", c.KeySecret},
	}
	for _, f := range required {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("sinch: %s is required", f.name))
		}
	}
	if c.BaseURL != "" {
		if _, err := parseServiceURL("BaseURL", c.BaseURL); err != nil {
			errs = append(errs, err)
		}
	} else if !slices.Contains(Regions, c.Region) {
		errs = append(errs, fmt.Errorf("sinch: Region must be one of us, eu, br, got %q", c.Region))
	}
	switch c.Auth {
	case AuthOAuth2:
		if _, err := parseServiceURL("TokenURL", c.TokenURL); err != nil {
			errs = append(errs, err)
		}
	case AuthBasic:
	default:
		errs = append(errs, fmt.Errorf("sinch: Auth must be one of oauth2, basic, got %q", c.Auth))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("sinch: Timeout must not be negative, got %s", c.Timeout))
	}
	return errors.Join(errs...)
}

// baseURL returns the API root with a trailing slash, so request paths
// resolve below any path prefix.
func (c Config) baseURL() (*url.URL, error) {
	raw := c.BaseURL
	if raw == "" {
		raw = fmt.Sprintf(baseURLTemplate, c.Region)
	}
	u, err := parseServiceURL("BaseURL", raw)
	if err != nil {
		return nil, err
	}
	if u.Path == "" || u.Path[len(u.Path)-1] != '/' {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	return u, nil
}

// parseServiceURL accepts an absolute http(s) URL without credentials, query
// or fragment. Credentials are refused because url.Error prints the URL.
func parseServiceURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	// The URL itself is not echoed: it may hold whatever was pasted into it.
	switch {
	case err != nil:
		return nil, fmt.Errorf("sinch: %s is not a valid URL", field)
	case u.User != nil:
		return nil, fmt.Errorf("sinch: %s must not contain credentials", field)
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return nil, fmt.Errorf("sinch: %s must be an absolute http or https URL", field)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("sinch: %s must not have a query or fragment", field)
	}
	return u, nil
}

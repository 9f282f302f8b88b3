package sinchsim

import "github.com/sinch-dispatch/sinch-dispatch/internal/sinch"

// ClientConfig is the sinch.Config that calls a simulator served at
// baseURL with the simulator's default project, app and credentials.
func ClientConfig(baseURL string) sinch.Config {
	return sinch.Config{
		ProjectID: DefaultProjectID, AppID: DefaultAppID,
		KeyID: DefaultKeyID, KeySecret: DefaultKeySecret,
		BaseURL: baseURL, TokenURL: baseURL + "/oauth2/token",
	}
}

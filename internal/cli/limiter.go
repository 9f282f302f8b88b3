package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// JitterMargin is the spread between a token's grant and the send's arrival
// at Sinch that --burst absorbs.
const JitterMargin = 30 * time.Millisecond

// DefaultRate is an app's outbound rate when --app-rate does not give it
// and GET app does not say: Sinch's default for a new app.
const DefaultRate = 20

// SinchClient builds the API client from the shared settings.
func SinchClient(s *config.Settings) (*sinch.Client, error) {
	c, err := sinch.New(sinch.Config{
		ProjectID: s.SinchProjectID, AppID: s.SinchAppID, KeyID: s.SinchKeyID, KeySecret: s.SinchKeySecret,
		Region: s.SinchRegion, BaseURL: s.SinchBaseURL, TokenURL: s.SinchAuthURL,
		Auth: sinch.AuthMode(s.SinchAuth), Timeout: s.SinchTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("sinch settings: %w", err)
	}
	return c, nil
}

// Authenticate warms the client's access token, bounded like defaultRate.
func Authenticate(ctx context.Context, c *sinch.Client) error {
	actx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return c.Authenticate(actx)
}

package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
)

func TestOutboundRatesOverrideDefaultAndBadFlag(t *testing.T) {
	t.Parallel()
	s := &config.Settings{SinchAppID: "main-app"}
	rates, err := OutboundRates(s, "35")
	if err != nil {
		t.Fatal(err)
	}
	if r := rates(context.Background(), ""); r != 35 {
		t.Errorf("configured app: %g, want the override 35", r)
	}
	rates, err = OutboundRates(s, "other=100, main-app=25")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if a, b, c := rates(ctx, "main-app"), rates(ctx, "other"), rates(ctx, "unknown"); a != 25 || b != 100 || c != DefaultRate {
		t.Errorf("rates %g %g %g, want 25 100 %d", a, b, c, DefaultRate)
	}
	// No Sinch settings: nothing to ask, the default.
	rates, _ = OutboundRates(s, "")
	if r := rates(ctx, ""); r != DefaultRate {
		t.Errorf("without settings: %g, want %d", r, DefaultRate)
	}
	for _, bad := range []string{"fast", "a=0", "a=-3", "a="} {
		if _, err := OutboundRates(s, bad); err == nil || !strings.HasPrefix(err.Error(), "--app-rate: ") {
			t.Errorf("%q: %v, want an --app-rate error", bad, err)
		}
	}
}

package e2etest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// --content-type becomes each send's message_content_type, which Sinch's
// consent management reads; a bad value is refused naming the flag.
func TestContentTypeIsSentWithEveryMessage(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	csvPath := campaignCSV(t, 5, nil, 0)
	s.enqueue("--campaign", "promo", "--csv", csvPath, "--text", "Hi {{.first_name}}", "--content-type", "marketing")
	if c := s.runWorker("promo", 30*time.Second, "--rate", "200"); c.Sent != 5 {
		t.Fatalf("sent %d, want 5", c.Sent)
	}
	if got := s.sim.Stats().AcceptedByContentType; got["CONTENT_MARKETING"] != 5 || len(got) != 1 {
		t.Errorf("simulator saw content types %v, want CONTENT_MARKETING 5", got)
	}

	var out, errOut bytes.Buffer
	err := enqueuecli.Run(context.Background(), []string{"--campaign", "bad", "--csv", csvPath, "--text", "Hi",
		"--content-type", "promo"}, s.getenv, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--content-type must be marketing or notification") {
		t.Errorf("--content-type promo: got %v (%s), want an error naming the flag", err, errOut.String())
	}
}

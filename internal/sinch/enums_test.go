package sinch_test

import (
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

func TestChannelNamesFollowTheEnum(t *testing.T) {
	names := sinch.ChannelNames()
	if len(names) != len(sinch.Channels) {
		t.Fatalf("got %d names, want %d", len(names), len(sinch.Channels))
	}
	for i, n := range names {
		if c := sinch.Channel(n); c != sinch.Channels[i] || !c.Valid() {
			t.Errorf("name %d: got %q, want %q", i, n, sinch.Channels[i])
		}
	}
	names[0] = "CHANGED"
	if got := sinch.ChannelNames()[0]; got != string(sinch.Channels[0]) {
		t.Errorf("after a caller changed its copy: got %q, want %q", got, sinch.Channels[0])
	}
}

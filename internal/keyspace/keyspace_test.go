package keyspace

import (
	"strings"
	"testing"
)

func TestCampaignKeysShareOneHashTagAndAreDistinct(t *testing.T) {
	c := ForCampaign("spring-sale")
	keys := append(c.Retained(), c.TrackLock, c.Lock("SMS:+33612345678"), c.Run("r1"))
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("key %s appears twice in the layout", k)
		}
		seen[k] = true
		// Redis Cluster hashes only what is between the first { and the
		// next }: every key of the campaign must name the same slot.
		open := strings.IndexByte(k, '{')
		end := strings.IndexByte(k[open+1:], '}')
		if open < 0 || end < 0 || k[open+1:open+1+end] != "spring-sale" {
			t.Errorf("key %s: hash tag is not {spring-sale}", k)
		}
		if id, ok := CampaignOf(k); !ok || id != "spring-sale" {
			t.Errorf("CampaignOf(%q): got %q, %v; want spring-sale, true", k, id, ok)
		}
	}
}

func TestCampaignOf(t *testing.T) {
	tests := []struct {
		key, id string
		ok      bool
	}{
		{ForCampaign("a.b_c-1").Def, "a.b_c-1", true},
		{ForCampaign("x").Lock("SMS:+1"), "x", true},
		{Campaigns, "", false},
		{Suppress, "", false},
		{ScheduleFired("x"), "", false},
		{WebhookNonce("n"), "", false},
		{"sd:{}:def", "", false},
		{"sd:{unterminated", "", false},
		{"asynq:{default}:pending", "", false},
		{ForFeed("app").Campaign("x"), "", false},
		{ForFeed("").Ring("high"), "", false},
	}
	for _, tt := range tests {
		id, ok := CampaignOf(tt.key)
		if id != tt.id || ok != tt.ok {
			t.Errorf("CampaignOf(%q): got %q, %v; want %q, %v", tt.key, id, ok, tt.id, tt.ok)
		}
	}
}

func TestGlobalKeysAreOutsideAnyCampaign(t *testing.T) {
	for _, k := range []string{Campaigns, Suppress, ScheduleTask("t"), ScheduleFired("c"), WebhookNonce("n"), FeedApps, ForFeed("a").Lock} {
		if !strings.HasPrefix(k, Prefix) {
			t.Errorf("key %s lacks the %q prefix", k, Prefix)
		}
	}
	if got, want := RateLimit("p", "a"), "sinch:p:a"; got != want {
		t.Errorf("RateLimit: got %q, want %q (the name running workers share)", got, want)
	}
}

// An app's feed keys share one hash tag, the configured app's too, so the
// feeder's scripts may take them together on a cluster.
func TestFeedKeysShareTheAppsHashTag(t *testing.T) {
	for _, app := range []string{"", "01ABC"} {
		f := ForFeed(app)
		want := "{" + app + "}"
		if app == "" {
			want = "{~}"
		}
		for _, k := range []string{f.Feeding, f.Lock, f.Ring("high"), f.Campaign("c"), f.IDs("c")} {
			if i := strings.Index(k, "{"); i < 0 || !strings.HasPrefix(k[i:], want) {
				t.Errorf("app %q: key %s lacks the hash tag %s", app, k, want)
			}
		}
	}
}

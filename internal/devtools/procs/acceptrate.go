package procs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// AcceptRate measures a campaign's rate from the accept times Sinch
// recorded: sends after the first over first to last, and the most in any
// one second.
func AcceptRate(ctx context.Context, store *campaign.Store, id string) (rate float64, most int, err error) {
	var times []time.Time
	err = store.ScanRecipients(ctx, id, func(_ string, st campaign.Status, rec campaign.Record) error {
		if st == campaign.StatusSent {
			times = append(times, rec.AcceptedTime)
		}
		return nil
	})
	if err != nil || len(times) < 2 {
		return 0, 0, fmt.Errorf("campaign %s: %d accept times: %v", id, len(times), err)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	j := 0
	for i := range times {
		for times[i].Sub(times[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	return float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds(), most, nil
}

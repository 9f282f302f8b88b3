package procs

import (
	"context"
	"fmt"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
)

// WaitDrained waits until campaign id has nothing pending and total recipients,
// or until timeout; it fails early when a worker exits.
func WaitDrained(ctx context.Context, store *campaign.Store, id string, total int64, timeout time.Duration, workers []*Process) (campaign.Counters, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := store.Counters(ctx, id)
		if err != nil {
			return c, err
		}
		if c.Pending == 0 && c.Total() == total {
			return c, nil
		}
		for _, w := range workers {
			if w.Exited() {
				return c, fmt.Errorf("a worker exited early: %v\n%s", w.Err(), LastLines(w.Output(), 10))
			}
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("not drained after %s: %d sent, %d pending, %d failed", timeout, c.Sent, c.Pending, c.Failed)
		}
		select {
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

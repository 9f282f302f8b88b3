package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

func TestSendOutsideWindowIsDeferredToTheOpeningNotFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, sinchsim.Config{})
	ctx := context.Background()
	paris, _ := campaign.LoadLocation("Europe/Paris")
	w, err := campaign.ParseWindow("09:00-20:00", paris)
	if err != nil {
		t.Fatal(err)
	}
	f.payload.Window = w
	task := f.task(t)
	// The window travels in the payload: the handler reads no definition.
	if p, err := decodeSend(task.Payload()); err != nil || !p.Window.Equal(w) {
		t.Fatalf("payload window: got %v (err %v), want %v", p.Window, err, w)
	}

	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{"early morning", time.Date(2026, 11, 23, 7, 15, 0, 0, paris), time.Hour + 45*time.Minute},
		{"at closing", time.Date(2026, 11, 23, 20, 0, 0, 0, paris), 13 * time.Hour},
		{"late evening, clock in UTC", time.Date(2026, 11, 23, 22, 30, 0, 0, time.UTC), 9*time.Hour + 30*time.Minute},
	} {
		f.handler.now = func() time.Time { return tc.now }
		err := f.handler.ProcessTask(ctx, task)
		var d *deferred
		if !errors.As(err, &d) || !errors.Is(err, errQuietHours) {
			t.Fatalf("%s: got %v, want a quiet-hours deferral", tc.name, err)
		}
		if isFailure(err) || errors.Is(err, asynq.SkipRetry) {
			t.Fatalf("%s: the deferral counts as a failure or archives the task", tc.name)
		}
		if got := retryDelay(3, err, task); got != tc.want {
			t.Fatalf("%s: got delay %s, want %s (the next opening)", tc.name, got, tc.want)
		}
	}
	c, _ := f.store.Counters(ctx, "c")
	if st := f.sim.Stats(); st.Requests != 0 || c.Attempts != 0 || c.Pending != 1 {
		t.Fatalf("outside the window: %d API requests, %d attempts, %d pending; want 0, 0, 1", st.Requests, c.Attempts, c.Pending)
	}

	f.handler.now = func() time.Time { return time.Date(2026, 11, 23, 9, 0, 0, 0, paris) }
	if err := f.handler.ProcessTask(ctx, task); err != nil {
		t.Fatalf("inside the window: got %v, want sent", err)
	}
	if st, _ := f.store.Status(ctx, "c", f.payload.Key); st != campaign.StatusSent || f.sim.Stats().Accepted != 1 {
		t.Fatalf("inside the window: got status %s and %d accepted, want sent once", st, f.sim.Stats().Accepted)
	}
}

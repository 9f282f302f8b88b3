package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestTrackTaskPayloadAndIDs(t *testing.T) {
	t.Parallel()
	task, err := NewTrackTask("spring", QueueLow, 42, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodeTrack(task.Payload())
	if err != nil || p.CampaignID != "spring" || task.Type() != TypeTrack {
		t.Fatalf("got %+v (err %v, type %s), want campaign spring", p, err, task.Type())
	}
	if got, want := TrackTaskID("spring", 42), "track:spring:42"; got != want {
		t.Fatalf("got task ID %q, want %q", got, want)
	}
	if _, err := NewTrackTask("bad id!", QueueLow, 1, time.Minute); err == nil {
		t.Fatal("invalid campaign ID accepted")
	}
	for _, bad := range []string{`{`, `{}`, `{"campaign_id":""}`} {
		if _, err := decodeTrack([]byte(bad)); err == nil {
			t.Errorf("payload %s accepted", bad)
		}
	}
	// A mux built without a tracker archives a stray track task at once.
	err = NewMux(nil).ProcessTask(context.Background(), task)
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("got %v, want SkipRetry", err)
	}
	// A poison payload is not retried either.
	h := NewTrackHandler(nil, nil, nil)
	if err := h.ProcessTask(context.Background(), asynq.NewTask(TypeTrack, []byte(`{}`))); !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("got %v, want SkipRetry", err)
	}
	if _, err := (TrackSchedule{}).withDefaults(); err == nil {
		t.Fatal("a schedule without interval and queue accepted")
	}
}

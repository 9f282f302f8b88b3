package testwait

import (
	"fmt"
	"strings"
	"testing"
)

func TestUntil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		holds int // cond holds from this call on; 0 never
		want  bool
		calls int
	}{
		{"holds at once", 1, true, 1},
		{"holds on the third poll", 3, true, 3},
		{"never holds", 0, false, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			got := Until(5*Interval, func() bool {
				calls++
				return tc.holds > 0 && calls >= tc.holds
			})
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if tc.calls > 0 && calls != tc.calls {
				t.Fatalf("got %d calls, want %d", calls, tc.calls)
			}
			if tc.calls < 0 && calls < 2 {
				t.Fatalf("got %d calls before giving up, want the condition polled again", calls)
			}
		})
	}
}

func TestUntilWithNoTimeoutChecksOnce(t *testing.T) {
	t.Parallel()
	calls := 0
	if Until(0, func() bool { calls++; return false }) {
		t.Fatal("got true for a condition that never holds")
	}
	if calls != 1 {
		t.Fatalf("got %d calls, want 1", calls)
	}
}

// recorder is a testing.TB that records a failure instead of stopping the
// test, so For's failure path can be checked.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestForFailsNamingWhatItWaitedFor(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	For(r, Interval, "the moon", func() bool { return false })
	if !strings.Contains(r.failed, "waiting for the moon") {
		t.Fatalf("got failure %q, want one naming what was awaited", r.failed)
	}
	r = &recorder{TB: t}
	For(r, Interval, "the sun", func() bool { return true })
	if r.failed != "" {
		t.Fatalf("For failed on a condition that held: %q", r.failed)
	}
}

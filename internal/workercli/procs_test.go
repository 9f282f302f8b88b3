package workercli

import "testing"

func TestProcsForSizesGOMAXPROCSToTheRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate     float64
		max, out int
	}{
		{20, 8, 1},     // one app's default outbound rate
		{800, 8, 1},    // Sinch's project cap
		{1000, 8, 1},   // exactly one P's share
		{1001, 8, 2},   // past it: another
		{5000, 8, 5},   // a bench's unthrottled rate
		{100000, 2, 2}, // never more than the machine's
		{0.5, 2, 1},    // never fewer than one
	} {
		if got := procsFor(tc.rate, tc.max); got != tc.out {
			t.Errorf("procsFor(%v, %d): got %d, want %d", tc.rate, tc.max, got, tc.out)
		}
	}
}

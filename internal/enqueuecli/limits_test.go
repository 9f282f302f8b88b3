package enqueuecli

import "testing"

func TestSizeFlag(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		str  string
	}{
		{"1048576", 1 << 20, "1MiB"},
		{"64KiB", 64 << 10, "64KiB"},
		{"64kib", 64 << 10, "64KiB"},
		{"2GiB", 2 << 30, "2GiB"},
		{"10MB", 10_000_000, "10000000B"},
		{"1500 B", 1500, "1500B"},
		{"3KB", 3000, "3000B"},
	}
	for _, tt := range tests {
		var s sizeFlag
		if err := s.Set(tt.in); err != nil || int64(s) != tt.want || s.String() != tt.str {
			t.Errorf("Set(%q): got %d (%s), %v; want %d (%s)", tt.in, int64(s), s, err, tt.want, tt.str)
		}
		var back sizeFlag
		if err := back.Set(s.String()); err != nil || back != s {
			t.Errorf("Set(%q) does not read back %q: got %d, %v", s.String(), tt.in, int64(back), err)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5GiB", "2XB", "ten", "9999999999TiB"} {
		var s sizeFlag
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q): got %d, want an error", bad, int64(s))
		}
	}
}

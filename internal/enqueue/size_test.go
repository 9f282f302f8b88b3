package enqueue

import "testing"

func TestParseSize(t *testing.T) {
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
		n, err := ParseSize(tt.in)
		if err != nil || n != tt.want || FormatSize(n) != tt.str {
			t.Errorf("ParseSize(%q): got %d (%s), %v; want %d (%s)", tt.in, n, FormatSize(n), err, tt.want, tt.str)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(%q) does not read back %q: got %d, %v", FormatSize(n), tt.in, back, err)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5GiB", "2XB", "ten", "9999999999TiB"} {
		if n, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): got %d, want an error", bad, n)
		}
	}
}

package enqueue

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes ParseSize reads: powers of 1024 (KiB…) and of
// 1000 (KB…).
var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
}

// ParseSize reads a byte count written as 1048576, 64KiB, 1MiB, 2GiB
// (powers of 1024) or 10KB, 10MB, 2GB (powers of 1000).
func ParseSize(v string) (int64, error) {
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range sizeUnits {
		if len(num) > len(u.suffix) && strings.EqualFold(num[len(num)-len(u.suffix):], u.suffix) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a size such as 1048576, 64KiB, 1MiB or 2GiB, got %q", v)
	}
	return n * mult, nil
}

// FormatSize writes n in the largest binary unit that divides it, or in
// bytes ("1500B"); ParseSize reads it back.
func FormatSize(n int64) string {
	for i := 3; i >= 0; i-- { // TiB down to KiB
		if u := sizeUnits[i]; n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

package sinchsim

import (
	"math/rand/v2"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID returns a 26-character ULID like Sinch's message, contact and
// conversation IDs: 48 bits of milliseconds then 80 random bits, so IDs
// sort roughly by creation time. IDs need no determinism, so they use the
// lock-free runtime generator, not the seeded fault source.
func newID(t time.Time) string {
	var b [26]byte
	ms := uint64(t.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	r := rand.Uint64()
	for i := 10; i < 26; i++ {
		if i == 22 { // 12 characters use 60 of r's bits; refill for the last 4.
			r = rand.Uint64()
		}
		b[i] = crockford[r&31]
		r >>= 5
	}
	return string(b[:])
}

package redisguard_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redisguard"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest/redisproc"
)

func TestReadAndCheckPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		args   []string
		policy string
		max    int64
		refuse bool
	}{
		{"default", nil, "noeviction", 0, false},
		{"lru", []string{"--maxmemory", "50mb", "--maxmemory-policy", "allkeys-lru"}, "allkeys-lru", 50 << 20, true},
		{"volatile", []string{"--maxmemory-policy", "volatile-ttl"}, "volatile-ttl", 0, true},
		{"limited", []string{"--maxmemory", "20mb"}, "noeviction", 20 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := redisproc.Start(t, tc.args...)
			m, err := redisguard.Read(ctx, s.Client)
			if err != nil {
				t.Fatal(err)
			}
			if m.Policy != tc.policy || m.Max != tc.max || m.Used <= 0 {
				t.Fatalf("Read = %+v, want policy %s, max %d, used > 0", m, tc.policy, tc.max)
			}
			if m.Limited() && (m.Free() <= 0 || m.Free() >= m.Max) {
				t.Errorf("Free = %d of %d", m.Free(), m.Max)
			}
			err = redisguard.CheckPolicy(m)
			var ee *redisguard.EvictionError
			if got := errors.As(err, &ee); got != tc.refuse {
				t.Fatalf("CheckPolicy = %v, want refusal %v", err, tc.refuse)
			}
			if tc.refuse {
				for _, want := range []string{tc.policy, "CONFIG SET maxmemory-policy noeviction", "redis.conf"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("refusal %q does not say %q", err, want)
					}
				}
			}
		})
	}
}

// CONFIG may be disabled (managed services rename it): INFO memory alone
// tells the policy.
func TestReadWithoutConfig(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory-policy", "allkeys-random", "--rename-command", "CONFIG", `""`)
	if err := s.Client.ConfigGet(context.Background(), "maxmemory").Err(); err == nil {
		t.Fatal("CONFIG still works; the test would not show the INFO path")
	}
	m, err := redisguard.Read(context.Background(), s.Client)
	if err != nil || m.Policy != "allkeys-random" {
		t.Fatalf("Read = %+v, %v; want allkeys-random from INFO memory", m, err)
	}
}

// A server that has no memory settings to report (the embedded miniredis
// of the demo and of tests without Redis) is not refused.
func TestReadUnknown(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer c.Close()
	m, err := redisguard.Read(context.Background(), c)
	if err != nil || m.Policy != "" || m.Limited() {
		t.Fatalf("Read = %+v, %v; want nothing known and no error", m, err)
	}
	if err := redisguard.CheckPolicy(m); err != nil {
		t.Fatal(err)
	}
	// A server that does not answer is an error, not "unknown".
	mr.Close()
	if _, err := redisguard.Read(context.Background(), c); err == nil {
		t.Fatal("Read of a stopped server: no error")
	}
}

func TestIsOOM(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redisproc.Start(t, "--maxmemory", "2mb")
	var err error
	big := strings.Repeat("x", 64<<10)
	for i := 0; i < 1000 && err == nil; i++ {
		err = s.Client.Set(ctx, "k"+strconv.Itoa(i), big, 0).Err()
	}
	if !redisguard.IsOOM(err) {
		t.Fatalf("filling a 2mb Redis ended with %v, want an OOM error", err)
	}
	if !redisguard.IsOOM(errors.Join(errors.New("enqueue"), err)) {
		t.Error("a wrapped OOM error is not recognised")
	}
	if redisguard.IsOOM(errors.New("connection refused")) || redisguard.IsOOM(nil) {
		t.Error("other errors are taken for OOM")
	}
}

// Package redistest gives each test its own empty Redis database on a real
// server, so tests that need Redis talk to Redis and not to a mock.
//
// The server is REDIS_TEST_ADDR (default 127.0.0.1:6379). When nothing answers
// there the helper falls back to an embedded miniredis, so `go test ./...`
// passes on a machine that has only Go; with CI=true it fails instead,
// because CI must exercise the real server.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// DefaultAddr is the server tried when REDIS_TEST_ADDR is unset.
const DefaultAddr = "127.0.0.1:6379"

// lockPrefix marks which databases are taken. Locks live in DB 0, tests use
// DB 1..15, so concurrently running test packages never share a database.
const lockPrefix = "sinch-dispatch:redistest:lock:"

// Redis is one test's private database.
type Redis struct {
	Addr     string
	Password string
	DB       int
	Embedded bool          // true when running on miniredis
	Client   *redis.Client // connected to Addr/DB, closed at cleanup
}

// AsynqOpt returns the asynq connection options for this database.
func (r *Redis) AsynqOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: r.Addr, Password: r.Password, DB: r.DB}
}

// URL returns a redis:// URL for this database, as binaries take it in REDIS_URL.
func (r *Redis) URL() string {
	if r.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/%d", r.Password, r.Addr, r.DB)
	}
	return fmt.Sprintf("redis://%s/%d", r.Addr, r.DB)
}

// New returns an empty database for t and flushes it again at cleanup.
func New(t testing.TB) *Redis {
	t.Helper()
	addr := os.Getenv("REDIS_TEST_ADDR")
	if addr == "" {
		addr = DefaultAddr
	}
	password := os.Getenv("REDIS_TEST_PASSWORD")
	if !reachable(addr) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redistest: no Redis answers at %s and CI=true: CI must test against a real server", addr)
		}
		return embedded(t)
	}
	ctx := context.Background()
	locks := redis.NewClient(&redis.Options{Addr: addr, Password: password, DB: 0})
	t.Cleanup(func() { locks.Close() })

	db := claim(t, ctx, locks)
	r := &Redis{Addr: addr, Password: password, DB: db}
	r.Client = redis.NewClient(&redis.Options{Addr: addr, Password: password, DB: db})
	if err := r.Client.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redistest: flush db %d: %v", db, err)
	}
	t.Cleanup(func() {
		r.Client.FlushDB(context.Background())
		r.Client.Close()
		locks.Del(context.Background(), lockPrefix+strconv.Itoa(db))
	})
	return r
}

// claim takes a free database number, waiting when all are in use.
func claim(t testing.TB, ctx context.Context, locks *redis.Client) int {
	t.Helper()
	claimed := 0
	free := testwait.Until(2*time.Minute, func() bool {
		for db := 1; db <= 15; db++ {
			// The TTL frees the database if a test process dies without cleanup.
			ok, err := locks.SetNX(ctx, lockPrefix+strconv.Itoa(db), os.Getpid(), 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("redistest: claim db: %v", err)
			}
			if ok {
				claimed = db
				return true
			}
		}
		return false
	})
	if !free {
		t.Fatalf("redistest: no free Redis database (1..15) after 2 minutes")
	}
	return claimed
}

func embedded(t testing.TB) *Redis {
	t.Helper()
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatalf("redistest: start embedded redis: %v", err)
	}
	t.Logf("redistest: no Redis server reachable; using embedded miniredis at %s", m.Addr())
	r := &Redis{Addr: m.Addr(), Embedded: true}
	r.Client = redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() {
		r.Client.Close()
		m.Close()
	})
	return r
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

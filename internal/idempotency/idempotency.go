// Package idempotency makes an HTTP API safe to retry, as the IETF httpapi
// Idempotency-Key draft and Stripe describe: the same key with the same
// request returns the stored response and does nothing again; the same key
// with another request is refused (422); a request whose first copy is
// still running is a conflict (409).
//
// A request's fingerprint is known only once its body has been read, and an
// upload's body can be gigabytes, so the protocol has two steps: Begin
// claims the key before any work (or reports the finished response, whose
// fingerprint the caller then compares with its own), and Complete stores
// the response with the fingerprint when the work is done. A claim is a
// lease that Begin's caller keeps alive; a crashed process's claim lapses
// and the key can be used again.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for Config.
const (
	DefaultTTL   = 24 * time.Hour
	DefaultLease = time.Minute
	// MaxKeyLen bounds a client's key; the draft suggests UUIDs.
	MaxKeyLen = 255
)

// Errors the API maps to answers.
var (
	// ErrInFlight: a request with this key is still running (409).
	ErrInFlight = errors.New("a request with this Idempotency-Key is still being processed")
	// ErrMismatch: the key was used for a different request (422).
	ErrMismatch = errors.New("this Idempotency-Key was used for a different request")
	// ErrBadKey: the key is empty, too long or not printable ASCII (400).
	ErrBadKey = errors.New("Idempotency-Key must be 1 to 255 printable ASCII characters")
)

// Config configures a Store.
type Config struct {
	// Prefix starts every key the store writes. Required.
	Prefix string
	// TTL is how long a finished response is kept. Defaults to DefaultTTL.
	TTL time.Duration
	// Lease is how long a claim lives without being renewed. Defaults to
	// DefaultLease.
	Lease time.Duration
}

// Store keeps keys and responses in Redis.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
}

// New returns a Store.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		return nil, errors.New("idempotency: Config.Prefix is required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.TTL < time.Second || cfg.Lease < time.Second {
		return nil, errors.New("idempotency: TTL and Lease must be at least 1s")
	}
	return &Store{rdb: rdb, cfg: cfg}, nil
}

// Response is what a finished request answered.
type Response struct {
	Fingerprint string `json:"fingerprint"`
	Status      int    `json:"status"`
	Location    string `json:"location,omitempty"`
	Body        []byte `json:"body"`
}

// record is the stored value: a claim (Token set, no Response) or a
// finished request.
type record struct {
	Token    string    `json:"token,omitempty"`
	Response *Response `json:"response,omitempty"`
}

// Claim is a held key. Release it, or Complete it, exactly once.
type Claim struct {
	s     *Store
	key   string
	token string
}

// CheckKey validates a client's key.
func CheckKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return ErrBadKey
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return ErrBadKey
		}
	}
	return nil
}

func (s *Store) redisKey(scope, key string) string {
	// The scope (who asks) keeps one client's keys from another's.
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return s.cfg.Prefix + hex.EncodeToString(sum[:])
}

// beginScript claims KEYS[1] with ARGV[1] (a claim record) for ARGV[2] ms
// unless it exists; it returns the existing value, or false when claimed.
var beginScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// Begin claims key for scope. It returns either a Claim (the caller does
// the work, then Completes or Releases it) or the finished Response of an
// earlier request with the same key, which the caller replays only if its
// own fingerprint matches (see Response.Matches). A claim held by another
// request is ErrInFlight.
func (s *Store) Begin(ctx context.Context, scope, key string) (*Claim, *Response, error) {
	if err := CheckKey(key); err != nil {
		return nil, nil, err
	}
	rk := s.redisKey(scope, key)
	token := newToken()
	claim, _ := json.Marshal(record{Token: token})
	v, err := beginScript.Run(ctx, s.rdb, []string{rk}, claim, s.cfg.Lease.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return &Claim{s: s, key: rk, token: token}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("idempotency: %w", err)
	}
	var rec record
	if err := json.Unmarshal([]byte(v), &rec); err != nil {
		return nil, nil, fmt.Errorf("idempotency: stored record: %w", err)
	}
	if rec.Response == nil {
		return nil, nil, ErrInFlight
	}
	return nil, rec.Response, nil
}

// Matches reports whether a repeated request with fingerprint fp may be
// answered with r; otherwise the repeat is ErrMismatch.
func (r *Response) Matches(fp string) error {
	if r.Fingerprint != fp {
		return ErrMismatch
	}
	return nil
}

// ownedScript runs ARGV[1] (a Redis command name) on KEYS[1] only while
// the claim record there holds token ARGV[2].
var ownedScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, rec = pcall(cjson.decode, v)
if not ok or rec.token ~= ARGV[2] then return 0 end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
elseif ARGV[1] == 'complete' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
`)

func (c *Claim) owned(ctx context.Context, op string, ms int64, value []byte) error {
	n, err := ownedScript.Run(ctx, c.s.rdb, []string{c.key}, op, c.token, ms, value).Int()
	if err != nil {
		return fmt.Errorf("idempotency: %w", err)
	}
	if n == 0 {
		return errors.New("idempotency: the claim lapsed before the request finished")
	}
	return nil
}

// Renew extends the claim by the store's lease. Callers renew at a third
// of the lease while the work runs (see Keep).
func (c *Claim) Renew(ctx context.Context) error {
	return c.owned(ctx, "renew", c.s.cfg.Lease.Milliseconds(), nil)
}

// Keep renews the claim in the background until the returned stop is
// called.
func (c *Claim) Keep(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.Renew(ctx) // a lapse shows at Complete
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Complete stores resp for the store's TTL in place of the claim.
func (c *Claim) Complete(ctx context.Context, resp Response) error {
	v, err := json.Marshal(record{Response: &resp})
	if err != nil {
		return err
	}
	return c.owned(ctx, "complete", c.s.cfg.TTL.Milliseconds(), v)
}

// Release gives the key up without a stored response, for requests that
// changed nothing (refused before any work), so a corrected request may
// reuse the key.
func (c *Claim) Release(ctx context.Context) error {
	return c.owned(ctx, "release", 0, nil)
}

// Fingerprint hashes a request as it streams: write the method, path,
// query and every body part to it, then call Sum.
type Fingerprint struct{ h hash.Hash }

// NewFingerprint returns an empty fingerprint.
func NewFingerprint() *Fingerprint { return &Fingerprint{h: sha256.New()} }

// Write adds p.
func (f *Fingerprint) Write(p []byte) (int, error) { return f.h.Write(p) }

// Part adds a named field with its length, so parts cannot run together.
func (f *Fingerprint) Part(name string, value []byte) {
	fmt.Fprintf(f.h, "%s:%d:", name, len(value))
	f.h.Write(value)
}

// Sum is the fingerprint's hex digest.
func (f *Fingerprint) Sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

func newToken() string { return rand.Text() }

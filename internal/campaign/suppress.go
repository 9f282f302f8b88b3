package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// Suppression is why and when an identity was suppressed.
type Suppression struct {
	Channel  sinch.Channel `json:"channel"`
	Identity string        `json:"identity"`
	Reason   string        `json:"reason"` // e.g. "replied STOP to campaign spring", "manual"
	At       time.Time     `json:"at"`
}

func suppressField(ch sinch.Channel, identity string) string {
	return string(ch) + ":" + identity
}

// Suppress adds an identity to the suppression list. It reports whether it
// was new.
func (s *Store) Suppress(ctx context.Context, sup Suppression) (bool, error) {
	if sup.At.IsZero() {
		sup.At = s.now().UTC()
	}
	b, err := json.Marshal(sup)
	if err != nil {
		return false, err
	}
	added, err := s.rdb.HSetNX(ctx, keyspace.Suppress, suppressField(sup.Channel, sup.Identity), b).Result()
	if err != nil {
		return false, fmt.Errorf("suppress: %w", err)
	}
	return added, nil
}

// Unsuppress removes an identity; it reports whether it was there.
func (s *Store) Unsuppress(ctx context.Context, ch sinch.Channel, identity string) (bool, error) {
	n, err := s.rdb.HDel(ctx, keyspace.Suppress, suppressField(ch, identity)).Result()
	return n > 0, err
}

// Suppressed reports, for each (channel, identity) pair, whether it is on
// the list: one round trip for a whole batch.
func (s *Store) Suppressed(ctx context.Context, chs []sinch.Channel, identities []string) ([]bool, error) {
	if len(chs) == 0 {
		return nil, nil
	}
	fields := make([]string, len(chs))
	for i := range chs {
		fields[i] = suppressField(chs[i], identities[i])
	}
	vals, err := s.rdb.HMGet(ctx, keyspace.Suppress, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("suppression check: %w", err)
	}
	out := make([]bool, len(vals))
	for i, v := range vals {
		out[i] = v != nil
	}
	return out, nil
}

// ScanSuppressed calls fn for every suppressed identity.
func (s *Store) ScanSuppressed(ctx context.Context, fn func(Suppression) error) error {
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, keyspace.Suppress, cursor, "", 1000).Result()
		if err != nil && err != redis.Nil {
			return fmt.Errorf("scan suppression list: %w", err)
		}
		for i := 1; i < len(kv); i += 2 {
			var sup Suppression
			if err := json.Unmarshal([]byte(kv[i]), &sup); err != nil {
				return fmt.Errorf("suppression list: corrupt entry: %w", err)
			}
			if err := fn(sup); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// Package redisguard checks that a Redis suits campaigns before anything is
// written to it: it must refuse writes when full (maxmemory-policy
// noeviction) rather than delete keys, which would silently lose sends, and
// it must have room for what an upload is about to write. It also tells
// Redis's out-of-memory error apart from other failures, so an upload that
// meets it can stop with a clear message.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// NoEviction is the only maxmemory-policy under which Redis never deletes
// keys: when full it refuses writes with an OOM error instead.
const NoEviction = "noeviction"

// Memory is what one Redis says about its memory. For a Redis Cluster it is
// the master with the least room (and an evicting policy, if any has one).
type Memory struct {
	// Policy is maxmemory-policy; "" when the server reports it neither in
	// INFO memory nor through CONFIG GET (e.g. an embedded test server).
	Policy string
	// Max is maxmemory in bytes; 0 means no limit.
	Max int64
	// Used is used_memory in bytes.
	Used int64
	// Node names the server these figures are from (a cluster master's
	// address); "" for a single server.
	Node string
}

// Limited reports whether Redis has a maxmemory.
func (m Memory) Limited() bool { return m.Max > 0 }

// Free is maxmemory minus used_memory (never negative); meaningful only
// when Limited.
func (m Memory) Free() int64 { return max(0, m.Max-m.Used) }

// Read asks rdb for its memory figures: INFO memory, which holds
// used_memory, maxmemory and maxmemory_policy in one round trip and is
// served where CONFIG is disabled (managed Redis services), and CONFIG GET
// for what INFO leaves out. A cluster is read master by master.
func Read(ctx context.Context, rdb redis.UniversalClient) (Memory, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return readNode(ctx, rdb)
	}
	var (
		worst Memory
		seen  bool
		errs  []error
		mu    sync.Mutex // ForEachMaster calls fn concurrently
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		m, err := readNode(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		m.Node = c.Options().Addr
		if !seen || worse(m, worst) {
			worst, seen = m, true
		}
		return nil
	})
	if err != nil {
		return Memory{}, err
	}
	if !seen {
		return Memory{}, errors.Join(errs...)
	}
	return worst, nil
}

// worse reports whether a should stand for the cluster instead of b: an
// evicting policy first, then the least room.
func worse(a, b Memory) bool {
	if evicts(a.Policy) != evicts(b.Policy) {
		return evicts(a.Policy)
	}
	switch {
	case a.Limited() && !b.Limited():
		return true
	case a.Limited() && b.Limited():
		return a.Free() < b.Free()
	}
	return false
}

func evicts(policy string) bool { return policy != "" && policy != NoEviction }

func readNode(ctx context.Context, c redis.Cmdable) (Memory, error) {
	info, infoErr := c.Info(ctx, "memory").Result()
	var m Memory
	fields := parseInfo(info)
	used, haveUsed := fields["used_memory"]
	maxMem, haveMax := fields["maxmemory"]
	m.Policy = fields["maxmemory_policy"]
	if haveUsed {
		m.Used, _ = strconv.ParseInt(used, 10, 64)
	}
	if haveMax {
		m.Max, _ = strconv.ParseInt(maxMem, 10, 64)
	}
	if m.Policy == "" || !haveMax {
		cfg, err := c.ConfigGet(ctx, "maxmemory*").Result()
		if err == nil {
			if p := cfg["maxmemory-policy"]; m.Policy == "" {
				m.Policy = p
			}
			if v, ok := cfg["maxmemory"]; ok && !haveMax {
				m.Max, _ = strconv.ParseInt(v, 10, 64)
				haveMax = true
			}
		}
	}
	if !haveUsed && m.Policy == "" && !haveMax {
		// Neither INFO memory nor CONFIG told anything. A server that
		// answered with an error does not have these settings (an
		// embedded test server); a connection error is an error.
		var rerr redis.Error
		if infoErr != nil && !errors.As(infoErr, &rerr) {
			return Memory{}, fmt.Errorf("redis: INFO memory: %w", infoErr)
		}
		return Memory{}, nil
	}
	return m, nil
}

// parseInfo reads the "name:value" lines of an INFO answer.
func parseInfo(info string) map[string]string {
	out := map[string]string{}
	for line := range strings.SplitSeq(info, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// EvictionError is the refusal of a Redis whose maxmemory-policy may delete
// keys.
type EvictionError struct {
	Policy string
	Node   string // cluster master, or ""
}

func (e *EvictionError) Error() string {
	where := "Redis"
	if e.Node != "" {
		where = "Redis node " + e.Node
	}
	return fmt.Sprintf("%s has maxmemory-policy %s: when it is full it deletes keys, silently losing sends and "+
		"campaign records. Fix: redis-cli CONFIG SET maxmemory-policy noeviction, and set "+
		"`maxmemory-policy noeviction` in redis.conf so it survives a restart", where, e.Policy)
}

// CheckPolicy returns an *EvictionError unless m's policy is noeviction or
// unknown ("": the server reports none, so there is nothing to check).
func CheckPolicy(m Memory) error {
	if evicts(m.Policy) {
		return &EvictionError{Policy: m.Policy, Node: m.Node}
	}
	return nil
}

// IsOOM reports whether err is Redis refusing a write because used memory
// is above maxmemory ("OOM command not allowed when used memory >
// 'maxmemory'"), also when a library wrapped it.
func IsOOM(err error) bool {
	return err != nil && strings.Contains(err.Error(), "OOM command not allowed")
}

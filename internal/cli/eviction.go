package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redisguard"
)

// AllowEvictionEnv is the environment equivalent of --allow-eviction.
const AllowEvictionEnv = "REDIS_ALLOW_EVICTION"

// EvictionGuard is the --allow-eviction flag of the commands that write
// campaigns (enqueue, worker, dashboard) and the startup check it overrides.
type EvictionGuard struct {
	allow bool
	fs    *flag.FlagSet
}

// RegisterEviction adds --allow-eviction to fs.
func RegisterEviction(fs *flag.FlagSet) *EvictionGuard {
	g := &EvictionGuard{fs: fs}
	fs.BoolVar(&g.allow, "allow-eviction", false,
		"run even when Redis's maxmemory-policy may delete keys (anything but noeviction): sends can be lost or sent twice [env "+AllowEvictionEnv+"]")
	return g
}

// Check refuses a Redis whose maxmemory-policy may evict keys, naming the
// policy and the fix, unless --allow-eviction (or its env) is set: then warn
// gets a loud warning and Check returns nil. A server that reports no
// policy (an embedded test server) passes.
func (g *EvictionGuard) Check(ctx context.Context, rdb redis.UniversalClient, getenv Env, warn func(string)) error {
	allow := g.allow
	given := false
	g.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "allow-eviction" })
	if v := strings.TrimSpace(getenv(AllowEvictionEnv)); !given && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", AllowEvictionEnv, v)
		}
		allow = b
	}
	m, err := redisguard.Read(ctx, rdb)
	if err != nil {
		return fmt.Errorf("redis: reading maxmemory-policy: %w", err)
	}
	err = redisguard.CheckPolicy(m)
	if err == nil {
		return nil
	}
	if !allow {
		return fmt.Errorf("%w; or pass --allow-eviction (env %s=true) to run anyway", err, AllowEvictionEnv)
	}
	warn(fmt.Sprintf("WARNING: %v. --allow-eviction is set, so this runs anyway: "+
		"if Redis fills up it will delete keys, and recipients may never be sent or be sent twice", err))
	return nil
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
)

const testKey = "sinch:{project}:app"

// processes returns n limiters on one test database, each with its own
// client, as n worker processes would be. Fields of cfg left zero get the
// defaults; each limiter logs to its own buffer.
func processes(t *testing.T, n int, cfg Config) ([]*Limiter, []*logbuf.Buffer) {
	t.Helper()
	r := redistest.New(t)
	cfg.Key = testKey
	var ls []*Limiter
	var logs []*logbuf.Buffer
	for range n {
		c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB})
		t.Cleanup(func() { c.Close() })
		buf := &logbuf.Buffer{}
		cfg := cfg
		cfg.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		l, err := New(c, cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		ls = append(ls, l)
		logs = append(logs, buf)
	}
	return ls, logs
}

// grants runs workers goroutines per limiter, each calling Wait (after an
// optional pause) until ctx is done, and returns every grant time, sorted.
func grants(ctx context.Context, t *testing.T, ls []*Limiter, workers int, pause func() time.Duration) []time.Time {
	t.Helper()
	var (
		mu     sync.Mutex
		all    []time.Time
		wg     sync.WaitGroup
		errsMu sync.Mutex
		errs   []error
	)
	for _, l := range ls {
		for range workers {
			wg.Go(func() {
				var mine []time.Time
				for {
					if pause != nil {
						select {
						case <-ctx.Done():
						case <-time.After(pause()):
						}
					}
					if err := l.Wait(ctx); err != nil {
						if ctx.Err() == nil {
							errsMu.Lock()
							errs = append(errs, err)
							errsMu.Unlock()
						}
						break
					}
					mine = append(mine, time.Now())
				}
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Wait: got %v, want nil or the context's error", errs[0])
	}
	slices.SortFunc(all, time.Time.Compare)
	return all
}

// maxInWindow is the most grants in any half-open window [x, x+w).
func maxInWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts { // every maximal window starts at a grant
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

// checkWindows fails when any window holds more than rate×w + burst grants.
func checkWindows(t *testing.T, ts []time.Time, rate float64, burst int) {
	t.Helper()
	for _, w := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond,
		100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		limit := int(rate*w.Seconds()) + burst
		got := maxInWindow(ts, w)
		t.Logf("window %v: max %d grants, limit %d", w, got, limit)
		if got > limit {
			t.Errorf("window %v: got %d grants, want at most rate×w + burst = %d", w, got, limit)
		}
	}
}

func TestWaitNeverExceedsRateAcrossProcesses(t *testing.T) {
	const rate = 2000.0
	tests := []struct {
		name    string
		workers int
		pause   func() time.Duration // between two Waits of one worker
		minFrac float64              // of rate × duration, 0 for no lower bound
	}{
		{name: "saturated", workers: 16, minFrac: 0.8},
		// Uneven demand leaves leased tokens unused and timelines idle, which
		// must neither burst past the bound nor starve.
		{name: "bursty", workers: 16, pause: func() time.Duration {
			if rand.IntN(10) == 0 {
				return time.Duration(rand.IntN(40)) * time.Millisecond
			}
			return 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, _ := processes(t, 2, Config{Rate: rate})
			burst := ls[0].cfg.Burst
			// The bound must hold on every run. The throughput floor counts
			// only the time this process could run: when other work on the
			// machine starves it of CPU, slots pass unused (as they should).
			// It also gets three runs, each on a fresh budget.
			const run, attempts = 1500 * time.Millisecond, 3
			for attempt := 1; attempt <= attempts; attempt++ {
				if attempt > 1 {
					ls = rekey(t, ls, fmt.Sprintf("%s:%d", testKey, attempt))
				}
				ctx, cancel := context.WithTimeout(t.Context(), run)
				stalled := measureStalls(ctx)
				start := time.Now()
				ts := grants(ctx, t, ls, tt.workers, tt.pause)
				elapsed := time.Since(start)
				cancel()
				stall := stalled()

				t.Logf("run %d: %d grants in %v (%.0f/s, rate %v, burst %d, %d reservations, %d tokens dropped late, process stalled %v)",
					attempt, len(ts), elapsed, float64(len(ts))/elapsed.Seconds(), rate, burst,
					ls[0].reservations.Load()+ls[1].reservations.Load(), ls[0].dropped.Load()+ls[1].dropped.Load(), stall)
				checkWindows(t, ts, rate, burst)
				want := int(tt.minFrac * rate * max(0, run-stall).Seconds())
				if len(ts) >= want {
					return
				}
				msg := fmt.Sprintf("got %d grants in %v (stalled %v), want at least %d (%.0f%% of rate × unstalled time)",
					len(ts), run, stall, want, tt.minFrac*100)
				if attempt == attempts {
					t.Error(msg)
				} else {
					t.Log(msg + "; running again")
				}
			}
		})
	}
}

// measureStalls estimates how long this process was kept from running until
// ctx is done: a goroutine asks to wake every millisecond and adds up how
// much later than 10ms it woke (shorter stalls are absorbed by the burst).
// The returned func waits for the end and reports the total.
func measureStalls(ctx context.Context) func() time.Duration {
	var stall time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				now = time.Now() // the tick's time is when it was due, not when we ran
				if late := now.Sub(last) - time.Millisecond; late > 10*time.Millisecond {
					stall += late - 10*time.Millisecond
				}
				last = now
			}
		}
	}()
	return func() time.Duration { <-done; return stall }
}

// rekey returns limiters like ls, on the same clients, for another key.
func rekey(t *testing.T, ls []*Limiter, key string) []*Limiter {
	t.Helper()
	var out []*Limiter
	for _, l := range ls {
		cfg := l.cfg
		cfg.Key = key
		nl, err := New(l.rdb, cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		out = append(out, nl)
	}
	return out
}

func TestThrottledDecreasesSharedRateOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[int][]float64{}
	const cooldown = time.Second
	cfg := Config{Rate: 100, MinRate: 30, DecreaseFactor: 0.5, DecreaseCooldown: cooldown, RecoverInterval: time.Hour}
	ls, logs := processes(t, 2, cfg)
	for i, l := range ls {
		l.cfg.OnRateChange = func(r float64) { mu.Lock(); seen[i] = append(seen[i], r); mu.Unlock() }
	}
	a, b := ls[0], ls[1]
	ctx := t.Context()
	// Rate is as of the last Redis round trip, which the next Wait makes
	// once the process has used up its lease.
	wantRate := func(l *Limiter, name string, want float64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			if err := l.Wait(ctx); err != nil {
				t.Fatalf("%s.Wait: %v", name, err)
			}
			if l.Rate() == want {
				break
			}
		}
		if got := l.Rate(); got != want {
			t.Fatalf("%s.Rate(): got %v, want %v", name, got, want)
		}
	}
	wantRate(a, "A", 100)
	wantRate(b, "B", 100)

	// A burst of 429s from both processes counts as one decrease.
	var decreased time.Time // no earlier than the decrease on the Redis clock
	for i, l := range []*Limiter{a, b, a, b} {
		if err := l.Throttled(ctx, 0); err != nil {
			t.Fatalf("Throttled: %v", err)
		}
		if i == 0 {
			decreased = time.Now()
		}
	}
	if got := a.Rate(); got != 50 {
		t.Fatalf("A.Rate() after its 429: got %v, want 50", got)
	}
	wantRate(b, "B", 50)

	// The lower rate is enforced for both: any window of w holds at most
	// 50×w + Burst grants.
	runCtx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	ts := grants(runCtx, t, ls, 4, nil)
	cancel()
	checkWindows(t, ts, 50, a.cfg.Burst)

	// After the cooldown the next 429 decreases again, to what the last
	// second measured Sinch to accept or by the factor, never below
	// MinRate; both processes see the one new rate.
	<-time.After(time.Until(decreased.Add(cooldown)))
	if err := b.Throttled(ctx, 0); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	second := b.Rate()
	if second < 30 || second >= 50 {
		t.Fatalf("B.Rate() after a 429 past the cooldown: got %v, want in [MinRate 30, 50)", second)
	}
	wantRate(a, "A", second)

	mu.Lock()
	defer mu.Unlock()
	for i, want := range [][]float64{{50, second}, {50, second}} {
		if !slices.Equal(seen[i], want) {
			t.Errorf("OnRateChange of process %d: got %v, want %v", i, seen[i], want)
		}
	}
	for _, want := range []string{"old=100 new=50 reason=throttled", "old=50 new=" + strconv.FormatFloat(second, 'g', -1, 64) + " reason=throttled"} {
		all := logs[0].String() + logs[1].String()
		if n := strings.Count(all, want); n != 1 {
			t.Errorf("log lines with %q: got %d, want 1; logs:\n%s", want, n, all)
		}
	}
}

func TestRateRecoversGraduallyWithoutThrottling(t *testing.T) {
	const interval = 100 * time.Millisecond
	cfg := Config{Rate: 100, DecreaseFactor: 0.5, RecoverStep: 25, RecoverInterval: interval}
	ls, logs := processes(t, 2, cfg)
	a, b := ls[0], ls[1]
	ctx := t.Context()

	before := time.Now()
	if err := a.Throttled(ctx, 0); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	if got := a.Rate(); got != 50 {
		t.Fatalf("A.Rate() after a 429: got %v, want 50", got)
	}

	// B, which never saw a 429, watches the shared rate climb back.
	var steps []float64
	var firstStep time.Duration
	deadline := time.Now().Add(5 * time.Second)
	for len(steps) == 0 || b.Rate() != 100 && time.Now().Before(deadline) {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("B.Wait: %v", err)
		}
		if r := b.Rate(); len(steps) == 0 || r != steps[len(steps)-1] {
			if r > 50 && firstStep == 0 {
				firstStep = time.Since(before)
			}
			steps = append(steps, r)
		}
	}
	// Steps of 25 from 50 to 100; B may miss one if a Wait spans two intervals.
	if len(steps) < 2 || steps[len(steps)-1] != 100 || !slices.IsSorted(steps) ||
		slices.ContainsFunc(steps, func(r float64) bool { return r != 50 && r != 75 && r != 100 }) {
		t.Fatalf("rates seen by B: got %v, want 50, 75, 100", steps)
	}
	if firstStep < interval {
		t.Errorf("first recovery step seen %v after the 429, want at least RecoverInterval %v", firstStep, interval)
	}
	if err := a.Wait(ctx); err != nil {
		t.Fatalf("A.Wait: %v", err)
	}
	if got := a.Rate(); got != 100 {
		t.Errorf("A.Rate() after recovery: got %v, want 100", got)
	}
	all := logs[0].String() + logs[1].String()
	if n := strings.Count(all, "new=100 reason=recovered"); n != 1 {
		t.Errorf("log lines for the recovery to 100: got %d, want 1; logs:\n%s", n, all)
	}
}

func TestRetryAfterPausesEveryProcess(t *testing.T) {
	const retryAfter = 300 * time.Millisecond
	ls, _ := processes(t, 2, Config{Rate: 1000})
	ctx := t.Context()
	for _, l := range ls {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	before := time.Now()
	if err := ls[0].Throttled(ctx, retryAfter); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	var wg sync.WaitGroup
	got := make([]time.Duration, len(ls))
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Go(func() {
			errs[i] = l.Wait(ctx)
			got[i] = time.Since(before)
		})
	}
	wg.Wait()
	for i := range ls {
		if errs[i] != nil {
			t.Fatalf("process %d: Wait: %v", i, errs[i])
		}
		if got[i] < retryAfter {
			t.Errorf("process %d: token granted %v after the 429, want at least Retry-After %v", i, got[i], retryAfter)
		}
	}
}

func TestWaitReturnsPromptlyWhenContextEnds(t *testing.T) {
	tests := []struct {
		name string
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{
		{name: "canceled", want: context.Canceled, ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx, cancel
		}},
		{name: "deadline", want: context.DeadlineExceeded, ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 50*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// At 0.1/s with a burst of 2 the second token is 5s after the first.
			ls, _ := processes(t, 1, Config{Rate: 0.1})
			l := ls[0]
			if err := l.Wait(t.Context()); err != nil {
				t.Fatalf("first Wait: %v", err)
			}
			ctx, cancel := tt.ctx(t.Context())
			defer cancel()
			// Several callers: one holds the reservation, the others wait for it.
			const callers = 3
			start := time.Now()
			errs := make(chan error, callers)
			for range callers {
				go func() { errs <- l.Wait(ctx) }()
			}
			for range callers {
				if err := <-errs; !errors.Is(err, tt.want) {
					t.Errorf("Wait: got %v, want %v", err, tt.want)
				}
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Wait returned %v after start, want promptly after the context ended at 50ms, not at the next slot 5s away", elapsed)
			}
		})
	}
}

func TestWaitN(t *testing.T) {
	ls, _ := processes(t, 1, Config{Rate: 100, Burst: 2})
	l := ls[0]
	if err := l.WaitN(t.Context(), 0); err == nil || !strings.Contains(err.Error(), "n must be at least 1") {
		t.Fatalf("WaitN(0): got %v, want an error naming n", err)
	}
	start := time.Now()
	if err := l.WaitN(t.Context(), 10); err != nil {
		t.Fatalf("WaitN(10): %v", err)
	}
	// 10 tokens within w need 10 ≤ 100×w + 2, so w ≥ 80ms.
	if elapsed := time.Since(start); elapsed < 80*time.Millisecond {
		t.Errorf("WaitN(10) at 100/s with burst 2 returned after %v, want at least 80ms", elapsed)
	}
}

func TestStaleLeasedTokensAreDropped(t *testing.T) {
	ls, _ := processes(t, 1, Config{Rate: 1000})
	l := ls[0]
	ctx := t.Context()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Pretend a lease of 10 tokens went unused for a second: sending them now
	// would be a burst on top of what other processes were granted meanwhile.
	l.mu.Lock()
	l.next, l.step, l.left, l.slack = time.Now().Add(-time.Second), time.Millisecond, 10, l.lateness
	l.mu.Unlock()
	before := l.reservations.Load()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got := l.reservations.Load() - before; got != 1 {
		t.Errorf("reservations for a Wait after a stale lease: got %d, want 1 (stale tokens dropped)", got)
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	l, err := New(c, Config{Key: testKey, Rate: 100, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := t.Context()
	if err := l.Wait(ctx); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "ratelimit: reserve") {
		t.Fatalf("Wait with Redis down: got %v, want a reserve error", err)
	}
	if err := l.Throttled(ctx, time.Minute); err == nil || !strings.Contains(err.Error(), "ratelimit: throttled") {
		t.Fatalf("Throttled with Redis down: got %v, want a throttled error", err)
	}
	// The Retry-After still pauses this process, without calling Redis.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	before := l.reservations.Load()
	if err := l.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait during a local pause: got %v, want %v", err, context.DeadlineExceeded)
	}
	if got := l.reservations.Load() - before; got != 0 {
		t.Errorf("reservations during a local pause: got %d, want 0", got)
	}
}

// TestScriptsOnMiniredis runs the scripts on the embedded server even when a
// real one is present, so both Lua engines are always exercised.
func TestScriptsOnMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	l, err := New(c, Config{Key: testKey, Rate: 100, DecreaseFactor: 0.5, RecoverInterval: 10 * time.Millisecond, RecoverStep: 50,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := t.Context()
	if err := l.WaitN(ctx, 3); err != nil {
		t.Fatalf("WaitN: %v", err)
	}
	if err := l.Throttled(ctx, 20*time.Millisecond); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	if got := l.Rate(); got != 50 {
		t.Fatalf("Rate() after a 429: got %v, want 50", got)
	}
	for l.Rate() != 100 {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	if ttl := m.TTL(testKey); ttl <= 0 || ttl > 2*time.Minute {
		t.Errorf("TTL of the state: got %v, want about a minute", ttl)
	}
	for _, f := range []string{"tat", "rate", "adj", "dec"} {
		if v := m.HGet(testKey, f); v == "" {
			t.Errorf("field %s of the state: got empty, want a number", f)
		}
	}
}

// TestOne429CostsLittleWithTheDefaults drives the default AIMD on the Redis
// clock of the embedded server (miniredis.SetTime), so the steps are checked
// exactly and without waiting: one 429 (or a burst of them) cuts the rate to
// 0.8 × Rate once, and it is back at Rate 2s later.
func TestOne429CostsLittleWithTheDefaults(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	m.SetTime(t0)
	newLimiter := func() *Limiter {
		l, err := New(c, Config{Key: testKey, Rate: 500, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return l
	}
	a, b := newLimiter(), newLimiter()
	ctx := t.Context()
	// rateAt reads the shared rate through B's next reservation at t0+d.
	rateAt := func(d time.Duration) float64 {
		t.Helper()
		m.SetTime(t0.Add(d))
		if err := b.reserve(ctx, 1, b.gen); err != nil {
			t.Fatalf("reserve at %v: %v", d, err)
		}
		return b.Rate()
	}
	if got := rateAt(0); got != 500 {
		t.Fatalf("rate before any 429: got %v, want 500", got)
	}
	for i := range 5 { // a burst of 429s within the cooldown counts once
		if err := a.Throttled(ctx, 0); err != nil {
			t.Fatalf("Throttled: %v", err)
		}
		if got := a.Rate(); got != 400 {
			t.Fatalf("rate after 429 number %d: got %v, want 400 (one cut by DefaultDecreaseFactor)", i+1, got)
		}
	}
	for _, step := range []struct {
		at   time.Duration
		want float64
	}{
		{499 * time.Millisecond, 400},
		{500 * time.Millisecond, 425},
		{time.Second, 450},
		{1999 * time.Millisecond, 475},
		{2 * time.Second, 500},
		{time.Minute, 500},
	} {
		if got := rateAt(step.at); got != step.want {
			t.Errorf("rate %v after the 429: got %v, want %v", step.at, got, step.want)
		}
	}
	// A 429 after the cooldown cuts again: repeated 429s still find a lower
	// limit.
	m.SetTime(t0.Add(time.Minute + DefaultDecreaseCooldown))
	if err := a.Throttled(ctx, 0); err != nil {
		t.Fatalf("Throttled: %v", err)
	}
	if got := a.Rate(); got != 400 {
		t.Errorf("rate after a 429 past the cooldown: got %v, want 400", got)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never contacted
	t.Cleanup(func() { c.Close() })
	valid := Config{Key: testKey, Rate: 800}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // in the error; "" for none
	}{
		{"defaults", func(*Config) {}, ""},
		{"missing key", func(c *Config) { c.Key = "" }, "Key is required"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "Rate must be greater than 0"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "Rate must be greater than 0"},
		{"burst of one", func(c *Config) { c.Burst = 1 }, "Burst must be at least 2"},
		{"negative lease", func(c *Config) { c.Lease = -1 }, "Lease must be between 1 and 40"},
		{"lease over 50ms of tokens", func(c *Config) { c.Lease = 41 }, "Lease must be between 1 and 40"},
		{"lease at the limit", func(c *Config) { c.Lease = 40 }, ""},
		{"negative min rate", func(c *Config) { c.MinRate = -1 }, "MinRate must be greater than 0"},
		{"min rate above rate", func(c *Config) { c.MinRate = 801 }, "MinRate must be greater than 0 and at most Rate"},
		{"decrease factor of one", func(c *Config) { c.DecreaseFactor = 1 }, "DecreaseFactor must be greater than 0 and less than 1"},
		{"negative decrease factor", func(c *Config) { c.DecreaseFactor = -0.5 }, "DecreaseFactor must be"},
		{"negative decrease cooldown", func(c *Config) { c.DecreaseCooldown = -time.Second }, "DecreaseCooldown must be greater than 0"},
		{"negative recover step", func(c *Config) { c.RecoverStep = -1 }, "RecoverStep must be greater than 0"},
		{"recover step above rate", func(c *Config) { c.RecoverStep = 900 }, "RecoverStep must be greater than 0 and at most Rate"},
		{"recover interval below 1ms", func(c *Config) { c.RecoverInterval = time.Microsecond }, "RecoverInterval must be at least 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			_, err := New(c, cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, valid); err == nil {
		t.Errorf("New(nil client): got no error, want one")
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		rate               float64
		burst, lease       int
		minRate, recovStep float64
	}{
		{rate: 800, burst: 40, lease: 20, minRate: 80, recovStep: 40},
		{rate: 2000, burst: 100, lease: 50, minRate: 200, recovStep: 100},
		{rate: 10, burst: 2, lease: 1, minRate: 1, recovStep: 0.5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			c := Config{Key: testKey, Rate: tt.rate}.WithDefaults()
			if c.Burst != tt.burst || c.Lease != tt.lease || c.MinRate != tt.minRate || c.RecoverStep != tt.recovStep {
				t.Errorf("got Burst %d Lease %d MinRate %v RecoverStep %v, want %d %d %v %v",
					c.Burst, c.Lease, c.MinRate, c.RecoverStep, tt.burst, tt.lease, tt.minRate, tt.recovStep)
			}
			if c.DecreaseFactor != DefaultDecreaseFactor || c.DecreaseCooldown != DefaultDecreaseCooldown ||
				c.RecoverInterval != DefaultRecoverInterval || c.Logger == nil {
				t.Errorf("got %+v, want the package defaults", c)
			}
			if err := c.validate(); err != nil {
				t.Errorf("defaults do not validate: %v", err)
			}
		})
	}
}

// BenchmarkWait measures tokens per second through one limiter whose rate is
// far above what it can hand out, so the figure is the limiter's own ceiling.
// Lease=1 shows the cost of one Redis round trip per token.
func BenchmarkWait(b *testing.B) {
	for _, lease := range []int{0, 1} {
		name := "lease=default"
		if lease == 1 {
			name = "lease=1"
		}
		b.Run(name, func(b *testing.B) {
			r := redistest.New(b)
			l, err := New(r.Client, Config{Key: testKey, Rate: 100_000, Lease: lease})
			if err != nil {
				b.Fatalf("New: %v", err)
			}
			ctx := context.Background()
			b.SetParallelism(32)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Wait(ctx); err != nil {
						b.Errorf("Wait: %v", err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tokens/s")
			b.ReportMetric(float64(b.N)/float64(max(1, l.reservations.Load())), "tokens/roundtrip")
		})
	}
}

// onMiniredisClock is a Limiter at rate on a miniredis whose clock (the
// Redis TIME the scripts read) the test sets, starting at t0.
func onMiniredisClock(t *testing.T, rate float64) (*miniredis.Miniredis, *redis.Client, time.Time, *Limiter) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	m.SetTime(t0)
	return m, c, t0, limiterOn(t, c, Config{Key: testKey, Rate: rate})
}

// With --rate far above Sinch's real limit, repeated 429s must settle the
// shared rate just under that limit rather than climb back over it and
// fall far below it every few seconds. Simulated on the Redis clock, with
// a demand below the rate (one token each 100 ms, so no cut can measure
// Sinch): Sinch (limit 150/s) answers 429 whenever the rate is above it.
func TestPersistent429sSettleUnderTheRealLimit(t *testing.T) {
	m, _, t0, l := onMiniredisClock(t, 400)
	ctx := t.Context()
	const limit, tick = 150.0, 100 * time.Millisecond
	var cuts, late int
	var sum, excess float64
	for i := range 1200 { // two minutes
		m.SetTime(t0.Add(time.Duration(i) * tick))
		if err := l.reserve(ctx, 1, l.gen); err != nil {
			t.Fatalf("reserve: %v", err)
		}
		before := l.Rate()
		if before > limit {
			if err := l.Throttled(ctx, 0); err != nil {
				t.Fatalf("Throttled: %v", err)
			}
			if l.Rate() < before {
				cuts++
				if i >= 600 {
					late++
				}
			}
		}
		if i >= 600 {
			sum += min(before, limit)            // what Sinch accepts
			excess += max(0, before-limit) / 600 // what it refuses
		}
	}
	mean := sum / 600
	t.Logf("cuts %d (%d in the second minute), in the second minute: mean accepted rate %.1f/s, refused %.2f/s", cuts, late, mean, excess)
	if mean < 0.9*limit {
		t.Errorf("mean accepted rate in the second minute: %.1f/s, want at least %.1f (90%% of the limit)", mean, 0.9*limit)
	}
	if excess > 0.02*limit {
		t.Errorf("refused in the second minute: %.2f/s, want at most %.1f (2%% of the limit)", excess, 0.02*limit)
	}
}

// Many callers waiting at the rate (a worker's sends queued behind the
// limiter) fill the shared timeline to the horizon. A process that knows
// where it left the timeline waits until its next lease fits instead of
// asking Redis and being refused: about one round trip per lease, not two.
func TestSaturatedLimiterIsNotRefused(t *testing.T) {
	t.Parallel()
	// A wide burst keeps late goroutines on a busy machine from dropping
	// tokens, which would add reservations this test does not count.
	cfg := Config{Rate: 400, Burst: 200, Lease: 10}
	ls, _ := processes(t, 1, cfg)
	l := ls[0]
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	got := grants(ctx, t, ls, 60, nil)
	reservations := l.reservations.Load()
	leases := float64(len(got)+int(l.dropped.Load())) / float64(cfg.Lease)
	if len(got) < 100 {
		t.Fatalf("got %d grants in 1.5s at 400/s, want well over 100", len(got))
	}
	// Refused reservations would make it about 2 per lease.
	if float64(reservations) > 1.4*leases+3 {
		t.Errorf("%d reservations for %d grants (%.0f leases of %d): want at most about one per lease",
			reservations, len(got), leases, cfg.Lease)
	}
}

// Callers parked behind a reservation are woken a few at a time. One that
// is woken as its context ends must hand its turn on: the callers behind it
// still get their tokens.
func TestParkedCallersLeavingDoNotStrandOthers(t *testing.T) {
	t.Parallel()
	ls, _ := processes(t, 1, Config{Rate: 100, Burst: 4, Lease: 2})
	l := ls[0]
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const stay, leave = 20, 20
	errs := make(chan error, stay)
	var wg sync.WaitGroup
	for i := range stay + leave {
		wg.Go(func() {
			if i%2 == 1 { // leaves while parked, or just as it is woken
				short, stop := context.WithTimeout(ctx, time.Duration(5+i*3)*time.Millisecond)
				defer stop()
				l.Wait(short)
				return
			}
			errs <- l.Wait(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Wait of a caller that stayed: %v (stranded behind callers that left)", err)
		}
	}
}

// A configured rate four times Sinch's real limit, with every process
// sending as fast as the budget allows: the first cuts measure what Sinch
// accepted and the rate settles just under it, with few 429s. Simulated on
// the Redis clock, 1 ms per step: Sinch is a token bucket of 50/s (2
// deep), each send is made at its slot and answered 20 ms later (sends
// go on meanwhile), and a 429 is reported with no shared pause (a 1 s
// Retry-After is not shared, see sinchcall.SharedPause).
func TestSaturated429sSettleJustUnderTheRealLimit(t *testing.T) {
	m, c, t0, l := onMiniredisClock(t, 200)
	ctx := t.Context()
	const limit, depth = 50.0, 2.0
	bucket, filled := depth, t0
	const rtt = 20 * time.Millisecond
	var sendAt time.Time    // the granted slot not yet used (zero: none)
	var answers []time.Time // when each 429 in flight reaches the worker
	type second struct{ accepted, refused int }
	var secs [15]second
	for ms := range 15000 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		m.SetTime(now)
		for len(answers) > 0 && !now.Before(answers[0]) {
			answers = answers[1:]
			if err := l.Throttled(ctx, 0); err != nil {
				t.Fatalf("Throttled: %v", err)
			}
		}
		if sendAt.IsZero() {
			res, err := reserveScript.Run(ctx, c, []string{testKey}, append(l.cfg.scriptArgs(),
				1, l.lookback.Microseconds(), horizon.Microseconds(), MaxLeaseWindow.Microseconds())...).Slice()
			if err != nil {
				t.Fatalf("reserve: %v", err)
			}
			var p replyParser
			granted, start := p.int(res, 0), p.micros(res, 1)
			if p.err != nil {
				t.Fatalf("reserve reply: %v", p.err)
			}
			if granted == 0 {
				continue
			}
			sendAt = now.Add(max(start, 0))
		}
		if now.Before(sendAt) {
			continue
		}
		sendAt = time.Time{}
		bucket = min(depth, bucket+now.Sub(filled).Seconds()*limit)
		filled = now
		s := &secs[ms/1000]
		if bucket >= 1 {
			bucket--
			s.accepted++
			continue
		}
		s.refused++
		answers = append(answers, now.Add(rtt))
	}
	var accepted, attempts, allRefused, all int
	for i, s := range secs {
		t.Logf("second %2d: %3d accepted, %3d 429s", i, s.accepted, s.refused)
		allRefused += s.refused
		all += s.accepted + s.refused
		if i >= 5 {
			accepted += s.accepted
			attempts += s.accepted + s.refused
		}
	}
	refused := attempts - accepted
	t.Logf("seconds 5-15: %d accepted, %d 429s", accepted, refused)
	if min := 0.9 * limit * 10; float64(accepted) < min {
		t.Errorf("accepted in seconds 5-15: %d, want at least %.0f (0.9 of the limit)", accepted, min)
	}
	if float64(refused) > 0.05*float64(attempts) {
		t.Errorf("429s in seconds 5-15: %d of %d attempts, want at most 5%%", refused, attempts)
	}
	// The first cuts cost what is sent too fast until the measure: a few
	// tenths of a second of the excess.
	if float64(allRefused) > 0.08*float64(all) {
		t.Errorf("429s in the whole run: %d of %d attempts, want at most 8%%", allRefused, all)
	}
}

// Tokens go out on a grid shared by every caller, never before their slot
// and never later than their slack allows.
func TestReleaseAtRoundsUpToASharedGrid(t *testing.T) {
	l := &Limiter{lateness: 48 * time.Millisecond, cfg: Config{Rate: 500}} // burst 25
	base := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		slot  time.Duration // after base
		slack time.Duration
		want  time.Duration
	}{
		{0, 40 * time.Millisecond, 0},                                    // on the grid already
		{time.Millisecond, 40 * time.Millisecond, 20 * time.Millisecond}, // rounded up
		{19 * time.Millisecond, 40 * time.Millisecond, 20 * time.Millisecond},
		{21 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond},
		{21 * time.Millisecond, 10 * time.Millisecond, 21 * time.Millisecond}, // the grid is past its slack
		// The grid leaves wakeMargin of the slack to wake up in, or half of it.
		{21 * time.Millisecond, 24 * time.Millisecond, 40 * time.Millisecond},
		{21 * time.Millisecond, 23 * time.Millisecond, 21 * time.Millisecond},
		{39 * time.Millisecond, 2 * time.Millisecond, 40 * time.Millisecond},
		{38 * time.Millisecond, 3 * time.Millisecond, 38 * time.Millisecond},
	} {
		if got := l.releaseAt(base.Add(tc.slot), tc.slack).Sub(base); got != tc.want {
			t.Errorf("releaseAt(+%v, slack %v): got +%v, want +%v", tc.slot, tc.slack, got, tc.want)
		}
	}
	// Nor is a budget far above Sinch's limits, whose tokens are dense.
	fast := &Limiter{lateness: 48 * time.Millisecond, cfg: Config{Rate: 100000}}
	if slot := base.Add(time.Millisecond); !fast.releaseAt(slot, 40*time.Millisecond).Equal(slot) {
		t.Errorf("at 100000/s: got %v, want the slot itself", fast.releaseAt(slot, 40*time.Millisecond))
	}
	// A budget with almost no lateness (burst 1 or 2) is not held at all.
	tight := &Limiter{lateness: time.Millisecond}
	if slot := base.Add(time.Millisecond / 3); !tight.releaseAt(slot, time.Millisecond).Equal(slot) {
		t.Errorf("with 1 ms lateness: got %v, want the slot itself", tight.releaseAt(slot, time.Millisecond))
	}
}

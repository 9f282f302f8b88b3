package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
)

// field reads a number of a budget's shared state.
func field(t *testing.T, c redis.UniversalClient, key, name string) float64 {
	t.Helper()
	s, err := c.HGet(t.Context(), key, name).Result()
	if err != nil {
		t.Fatalf("HGET %s %s: %v", key, name, err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("HGET %s %s: %v", key, name, err)
	}
	return v
}

// leaseOf is l's last leases as reserveScript placed them on timeline i
// (µs): their first slot, the interval between their slots and their number.
func leaseOf(t *testing.T, l *Limiter, i int) (from, iv float64, n int64) {
	t.Helper()
	l.mu.Lock()
	run := l.mark.runs[i]
	l.mu.Unlock()
	from, err1 := strconv.ParseFloat(run.from, 64)
	end, err2 := strconv.ParseFloat(run.tat, 64)
	if err1 != nil || err2 != nil || run.n < 2 {
		t.Fatalf("leases %+v: want several slots on timeline %d", run, i)
	}
	return from, (end - from) / float64(run.n), run.n
}

func micros(t time.Time) float64 { return float64(t.UnixMicro()) }

// limiterOn is a Limiter of cfg on c that logs nothing.
func limiterOn(t *testing.T, c redis.UniversalClient, cfg Config) *Limiter {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	l, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ahead gives l a lease of cfg.Lease tokens reaching past now: the first
// lease of an idle budget is its burst, slots behind now, so it takes two.
func ahead(t *testing.T, l *Limiter) {
	t.Helper()
	for range 2 {
		if err := l.reserve(t.Context(), l.cfg.Lease, l.gen); err != nil {
			t.Fatal(err)
		}
	}
}

// A 429 that cuts the rate voids the lease of the process that drew it, and
// the lease's slots not yet due go back to the shared timeline, so the next
// lease (of any process) starts now at the new rate instead of after slots
// no one sends in. Slots are kept when anyone reserved after the lease, and
// a 429 within the cooldown neither cuts nor voids.
func TestACutGivesTheLeasesUnusedSlotsBack(t *testing.T) {
	ctx := t.Context()
	t.Run("last lease", func(t *testing.T) {
		m, c, t0, _ := onMiniredisClock(t, 100)
		a := limiterOn(t, c, Config{Key: testKey, Rate: 100, Lease: 5})
		ahead(t, a)
		from, iv, n := leaseOf(t, a, 0)
		g := field(t, c, testKey, "g")
		now := t0.Add(35 * time.Millisecond) // within the lease
		m.SetTime(now)
		if err := a.Throttled(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if got := a.Rate(); got != 80 {
			t.Fatalf("rate after the 429: got %v, want 80", got)
		}
		kept := math.Max(0, math.Ceil((micros(now)-from)/iv)) // slots before now may have gone out
		if kept == 0 || kept >= float64(n) {
			t.Fatalf("now is not within the lease (first slot %.0f, interval %.0f µs, %d tokens)", from, iv, n)
		}
		if got, want := field(t, c, testKey, "tat"), from+kept*iv; math.Abs(got-want) > 1 {
			t.Errorf("tat after the cut: got %.0f, want %.0f (the lease's first %v slots kept; its end was %.0f)", got, want, kept, from+float64(n)*iv)
		}
		if got, want := a.givenBack.Load(), n-int64(kept); got != want {
			t.Errorf("slots given back: got %d, want %d of %d", got, want, n)
		}
		if got, want := field(t, c, testKey, "g"), g-float64(n)+kept; got != want {
			t.Errorf("slots counted as granted: got %v, want %v (%v before the cut, less those given back)", got, want, g)
		}
		a.mu.Lock()
		left := a.left
		a.mu.Unlock()
		if left != 0 {
			t.Errorf("tokens left in the voided lease: %d, want 0", left)
		}

		// Within the cooldown a 429 neither cuts nor voids the new lease.
		if err := a.reserve(ctx, 3, a.gen); err != nil {
			t.Fatal(err)
		}
		tat := field(t, c, testKey, "tat")
		m.SetTime(now.Add(5 * time.Millisecond))
		if err := a.Throttled(ctx, 0); err != nil {
			t.Fatal(err)
		}
		a.mu.Lock()
		left = a.left
		a.mu.Unlock()
		if left == 0 {
			t.Error("a 429 within the cooldown voided the lease")
		}
		if got := field(t, c, testKey, "tat"); got != tat {
			t.Errorf("tat after a 429 within the cooldown: got %.0f, want %.0f unchanged", got, tat)
		}
		if got, want := a.givenBack.Load(), n-int64(kept); got != want {
			t.Errorf("slots given back after a 429 within the cooldown: got %d, want %d as before", got, want)
		}
	})
	t.Run("reserved after", func(t *testing.T) {
		m, c, t0, _ := onMiniredisClock(t, 100)
		a := limiterOn(t, c, Config{Key: testKey, Rate: 100, Lease: 5})
		b := limiterOn(t, c, a.cfg)
		ahead(t, a)
		m.SetTime(t0.Add(5 * time.Millisecond))
		if err := b.reserve(ctx, 1, b.gen); err != nil { // its slot follows A's lease
			t.Fatal(err)
		}
		tat := field(t, c, testKey, "tat")
		m.SetTime(t0.Add(15 * time.Millisecond))
		if err := a.Throttled(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if got := field(t, c, testKey, "tat"); got != tat {
			t.Errorf("tat: got %.0f, want %.0f: B's slot follows A's lease, which is not given back", got, tat)
		}
		if got := a.givenBack.Load(); got != 0 {
			t.Errorf("slots given back: got %d, want 0", got)
		}
		a.mu.Lock()
		left := a.left
		a.mu.Unlock()
		if left != 0 {
			t.Errorf("tokens left in A's lease after the cut: %d, want 0 (voided)", left)
		}
	})
	t.Run("joint lease", func(t *testing.T) {
		m, c, _, p := onMiniredisClock(t, 800)
		app := limiterOn(t, c, Config{Key: testKey + ":app", Rate: 400, Lease: 5})
		l := NewLevels(app, p)
		ahead(t, app)
		if !app.joint {
			t.Fatal("the lease was not drawn on the project's timeline too")
		}
		appFrom, appIv, n := leaseOf(t, app, 0)
		projFrom, projIv, _ := leaseOf(t, app, 1)
		// The project's slots, closer together, end first: now is within both.
		now := time.UnixMicro(int64(projFrom + 1.5*projIv))
		m.SetTime(now)
		if err := l.Throttled(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for _, tl := range []struct {
			key      string
			from, iv float64
		}{{app.cfg.Key, appFrom, appIv}, {p.cfg.Key, projFrom, projIv}} {
			kept := math.Max(0, math.Ceil((micros(now)-tl.from)/tl.iv))
			if kept >= float64(n) {
				t.Fatalf("%s: now is past the lease (first slot %.0f, interval %.0f µs, %d tokens)", tl.key, tl.from, tl.iv, n)
			}
			if got, want := field(t, c, tl.key, "tat"), tl.from+kept*tl.iv; math.Abs(got-want) > 1 {
				t.Errorf("%s: tat after the cut: got %.0f, want %.0f", tl.key, got, want)
			}
		}
		if got := p.Rate(); got != 800 {
			t.Errorf("project rate after the app's 429: got %v, want 800", got)
		}
	})
}

// Processes cutting the rate every few tens of milliseconds, each giving
// its leases back while the others take tokens: a slot given back is never
// used twice, so every window, down to 1 ms, still holds at most Rate×w +
// Burst tokens. Cuts are small and recovery fast, so the rate stays near
// Rate and the bound as tight as without cuts.
func TestCutsGivingSlotsBackKeepTheBound(t *testing.T) {
	t.Parallel()
	const rate = 1000.0
	cfg := Config{Rate: rate, MinRate: 0.9 * rate, DecreaseFactor: 0.9, DecreaseCooldown: 3 * time.Millisecond,
		RecoverStep: rate, RecoverInterval: time.Millisecond}
	ls, _ := processes(t, 3, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range ls {
		throttleOften(ctx, t, &wg, l)
	}
	ts := grants(ctx, t, ls, 8, nil)
	wg.Wait()
	var back int64
	for _, l := range ls {
		back += l.givenBack.Load()
	}
	t.Logf("%d grants in 1.5s, %d slots given back", len(ts), back)
	if back == 0 {
		t.Fatal("no slots were given back: the test did not exercise the give-back")
	}
	slices.SortFunc(ts, time.Time.Compare)
	checkWindows(t, ts, rate, ls[0].cfg.Burst)
}

// throttleOften reports a 429 to l every 20 to 60 ms until ctx is done.
func throttleOften(ctx context.Context, t *testing.T, wg *sync.WaitGroup, l interface {
	Throttled(context.Context, time.Duration) error
}) {
	wg.Go(func() {
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(20+rand.IntN(40)) * time.Millisecond):
				if err := l.Throttled(context.WithoutCancel(ctx), 0); err != nil {
					t.Errorf("Throttled: %v", err)
					return
				}
			}
		}
	})
}

// delayThrottle holds the answer to each throttleScript call (EVALSHA:
// load the script first) of a client for d, so a test can act while a
// Throttled call is in flight after the script has run.
type delayThrottle struct{ d time.Duration }

func (h delayThrottle) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h delayThrottle) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h delayThrottle) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); len(args) > 1 && args[1] == throttleScript.Hash() {
			err := next(ctx, cmd)
			time.Sleep(h.d)
			return err
		}
		return next(ctx, cmd)
	}
}

// A token that comes due while this process's Throttled call is in flight
// waits for its answer: the cut may have given its slot back to the
// timeline, where another process can take it, so it must not go out
// meanwhile (nor may a new lease be reserved at the old rate).
func TestTokensDueDuringAThrottleWaitForIt(t *testing.T) {
	t.Parallel()
	const hold = 60 * time.Millisecond
	r := redistest.New(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB})
	t.Cleanup(func() { c.Close() })
	if err := throttleScript.Load(t.Context(), c).Err(); err != nil {
		t.Fatal(err)
	}
	c.AddHook(delayThrottle{hold})
	// A narrow burst keeps the lease from starting behind now: its slots
	// reach up to 50 ms ahead when the cut comes.
	l := limiterOn(t, c, Config{Key: testKey, Rate: 200, Burst: 2, Lease: 10})
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	var (
		mu sync.Mutex
		at []time.Time
		wg sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for l.Wait(ctx) == nil {
				mu.Lock()
				at = append(at, time.Now())
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // sending at the rate
	from := time.Now()
	if err := l.Throttled(ctx, 0); err != nil {
		t.Fatal(err)
	}
	to := time.Now()
	cancel()
	wg.Wait()
	// A caller that had its token as Throttled began records it just after.
	var during, before int
	for _, ts := range at {
		switch {
		case ts.After(from.Add(time.Millisecond)) && ts.Before(to):
			during++
		case ts.Before(from):
			before++
		}
	}
	t.Logf("%d tokens in the 200 ms before the 429, %d during its %v in flight; %d slots given back", before, during, to.Sub(from), l.givenBack.Load())
	if before < 20 {
		t.Fatalf("%d tokens before the 429, want about 40: the limiter was not sending at its rate", before)
	}
	if during > 0 {
		t.Errorf("%d tokens went out while the 429's rate cut was in flight, want 0", during)
	}
	if l.givenBack.Load() == 0 {
		t.Error("the cut gave no slots back")
	}
}

package ratelimit

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// levels returns the budgets of apps at rates under one project cap, on one
// test database.
func levels(t *testing.T, project float64, rates ...float64) []*Levels {
	t.Helper()
	r := redistest.New(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB})
	t.Cleanup(func() { c.Close() })
	p, err := New(c, Config{Key: "sinch:{p}", Rate: project})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Levels
	for i, rate := range rates {
		a, err := New(c, Config{Key: "sinch:{p}:app" + string(rune('a'+i)), Rate: rate})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, NewLevels(a, p))
	}
	return out
}

// count runs workers callers on l until ctx ends and returns the tokens taken.
func count(ctx context.Context, l *Levels, workers int) chan int {
	out := make(chan int, 1)
	got := make(chan int, workers)
	for range workers {
		go func() {
			n := 0
			for l.Wait(ctx) == nil {
				n++
			}
			got <- n
		}()
	}
	go func() {
		total := 0
		for range workers {
			total += <-got
		}
		out <- total
	}()
	return out
}

func TestLevelsKeepEachAppToItsRateUnderTheProjectCap(t *testing.T) {
	t.Parallel()
	ls := levels(t, 1000, 20, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	slow, fast := count(ctx, ls[0], 8), count(ctx, ls[1], 8)
	s, f := <-slow, <-fast
	// 2s at 20/s and 200/s, plus at most the burst after idle.
	if s > 20*2+ls[0].App().cfg.Burst || f > 200*2+ls[1].App().cfg.Burst {
		t.Fatalf("got %d and %d tokens in 2s, want at most 40 and 400 plus the burst", s, f)
	}
	// Each at (nearly) its rate: the fast app's leases, reserved ahead, do
	// not push the slow app's tokens behind them on the project's timeline.
	if s < 20*2*9/10 || f < 200*2*9/10 {
		t.Fatalf("got %d and %d tokens in 2s, want about 40 and 400", s, f)
	}
}

func TestLevelsProjectCapBindsAllApps(t *testing.T) {
	t.Parallel()
	ls := levels(t, 100, 200, 200)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, b := count(ctx, ls[0], 8), count(ctx, ls[1], 8)
	n := <-a + <-b
	if n > 100*2+ls[0].Project().cfg.Burst {
		t.Fatalf("two apps at 200/s took %d tokens in 2s under a 100/s project cap", n)
	}
	// Apps faster than the project go at its pace, not below it.
	if n < 100*2*9/10 {
		t.Fatalf("two apps at 200/s took %d tokens in 2s under a 100/s project cap, want about 200", n)
	}
}

// An app's lease is reserved on the project's timeline in the same round
// trip: the project's Limiter makes none of its own, and its timeline
// still moves with the app's tokens.
func TestLevelsReserveBothBudgetsInOneRoundTrip(t *testing.T) {
	t.Parallel()
	ls := levels(t, 1000, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n := <-count(ctx, ls[0], 8)
	app, project := ls[0].App(), ls[0].Project()
	if got := project.reservations.Load(); got != 0 {
		t.Errorf("the project's own reservations: got %d, want 0", got)
	}
	if got := app.reservations.Load(); got == 0 || got > int64(n/4) {
		t.Errorf("%d tokens took %d reservations, want at most a quarter as many", n, got)
	}
	tat, err := app.rdb.HGet(context.Background(), project.cfg.Key, "tat").Float64()
	if err != nil {
		t.Fatal(err)
	}
	appTat, err := app.rdb.HGet(context.Background(), app.cfg.Key, "tat").Float64()
	if err != nil {
		t.Fatal(err)
	}
	// Both at 1000/s: the same slots were reserved on both.
	if math.Abs(tat-appTat) > 1000 {
		t.Errorf("the project's timeline ends at %.0f µs, the app's at %.0f", tat, appTat)
	}
}

// Without a joint reservation (keys a cluster may keep apart) a caller
// takes the app's token, then the project's: the cap still binds.
func TestLevelsApartTakeTheProjectsTokenSecond(t *testing.T) {
	t.Parallel()
	ls := levels(t, 100, 200)
	l := &Levels{app: ls[0].app, project: ls[0].project}
	l.app.within = nil
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := <-count(ctx, l, 8)
	if n > 100*2+l.project.cfg.Burst || n < 100*2*9/10 {
		t.Fatalf("an app at 200/s took %d tokens in 2s under a 100/s project cap, want about 200", n)
	}
	if l.project.reservations.Load() == 0 {
		t.Fatal("the project's Limiter made no reservation of its own")
	}
}

func TestHashTag(t *testing.T) {
	for key, want := range map[string]string{
		"sinch:{p}:app": "p", "sinch:{p}": "p", "sinch:p:app": "sinch:p:app",
		"a{}b": "a{}b", "a{b}{c}": "b", "a{b": "a{b",
	} {
		if got := hashTag(key); got != want {
			t.Errorf("hashTag(%q): got %q, want %q", key, got, want)
		}
	}
}

func TestLevelsThrottledSlowsThatAppOnly(t *testing.T) {
	t.Parallel()
	ls := levels(t, 1000, 100, 100)
	ctx := context.Background()
	if err := ls[0].Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ls[1].Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ls[0].Throttled(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ls[1].Wait(ctx) // sees the shared state
	if r := ls[0].App().Rate(); r >= 100 {
		t.Fatalf("throttled app's rate: got %v, want below 100", r)
	}
	if r := ls[1].App().Rate(); r != 100 {
		t.Fatalf("other app's rate: got %v, want 100", r)
	}
	if r := ls[0].Project().Rate(); r != 1000 {
		t.Fatalf("project rate: got %v, want 1000", r)
	}
}

func TestLevelsDeferSpreadsCallersTurnedAway(t *testing.T) {
	t.Parallel()
	ls := levels(t, 1000, 10)
	l := ls[0]
	if _, busy := l.Defer(time.Second); busy {
		t.Fatal("busy with no caller waiting")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 20 { // 2s of the app's budget
		go l.Wait(ctx)
	}
	if !testwait.Until(5*time.Second, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.waiting >= 15 }) {
		t.Fatal("callers did not start waiting")
	}
	l.mu.Lock()
	ahead := time.Duration(l.waiting) * 100 * time.Millisecond // one slot each at 10/s
	l.mu.Unlock()
	d1, busy1 := l.Defer(time.Second)
	d2, busy2 := l.Defer(time.Second)
	if !busy1 || !busy2 {
		t.Fatal("not busy with 1.5s or more of callers waiting and a 1s hold")
	}
	// Back when the callers ahead are down to the hold, one slot later.
	if want := ahead - time.Second + 100*time.Millisecond; d1 < want-100*time.Millisecond || d1 > want+50*time.Millisecond || d2-d1 < 90*time.Millisecond {
		t.Fatalf("retry in %v then %v with %v of callers ahead; want about %v, then one slot (100ms) later", d1, d2, ahead, want)
	}
	// Asked again and again (callers that come back and are turned away
	// again), the place does not run ahead of the callers waiting.
	var last time.Duration
	for range 50 {
		last, _ = l.Defer(time.Second)
	}
	if last > ahead+100*time.Millisecond {
		t.Errorf("after 50 more callers turned away: retry in %v, want no later than the %v of callers ahead and a slot", last, ahead)
	}
}

// Tokens of two apps' leases reserved on both timelines at once (apps
// below the cap, from two processes each, so the project's slots drift
// behind the apps' pace within a lease) keep both bounds: each app's, and
// the project's over both apps together.
func TestLevelsJointLeasesKeepBothBounds(t *testing.T) {
	t.Parallel()
	const project, app = 800.0, 600.0
	for _, tt := range []struct {
		name string
		cuts bool
	}{
		{name: "steady"},
		// Each app's budget is cut every few tens of milliseconds, and each
		// cut gives the process's leases back on both timelines (the
		// project's too): no slot given back may be used twice. Small cuts
		// and fast recovery keep the rates near their configured ones, so
		// the bound is as tight as without cuts (the tokens a cut voids
		// are lost, so the count is not checked).
		{name: "cut often", cuts: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			appCfg := Config{Rate: app}
			if tt.cuts {
				appCfg = Config{Rate: app, MinRate: 0.9 * app, DecreaseFactor: 0.9, DecreaseCooldown: 3 * time.Millisecond,
					RecoverStep: app, RecoverInterval: time.Millisecond}
			}
			r := redistest.New(t)
			var both []time.Time
			var byApp [2][]time.Time
			var mu sync.Mutex
			var wg sync.WaitGroup
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			var appBurst, projectBurst int
			var apps []*Limiter
			for range 2 { // two processes: each its own client and Limiters on the shared keys
				c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB})
				t.Cleanup(func() { c.Close() })
				p, err := New(c, Config{Key: "sinch:{p}", Rate: project})
				if err != nil {
					t.Fatal(err)
				}
				projectBurst = p.cfg.Burst
				for i := range 2 {
					cfg := appCfg
					cfg.Key = "sinch:{p}:app" + string(rune('a'+i))
					a, err := New(c, cfg)
					if err != nil {
						t.Fatal(err)
					}
					appBurst = a.cfg.Burst
					apps = append(apps, a)
					l := NewLevels(a, p)
					if tt.cuts {
						throttleOften(ctx, t, &wg, l)
					}
					for range 8 {
						wg.Go(func() {
							var mine []time.Time
							for l.Wait(ctx) == nil {
								mine = append(mine, time.Now())
							}
							mu.Lock()
							byApp[i] = append(byApp[i], mine...)
							both = append(both, mine...)
							mu.Unlock()
						})
					}
				}
			}
			wg.Wait()
			var back int64
			for _, a := range apps {
				back += a.givenBack.Load()
			}
			slices.SortFunc(both, time.Time.Compare)
			t.Logf("%d tokens in 1.5s, %d and %d per app; %d slots given back by cuts", len(both), len(byApp[0]), len(byApp[1]), back)
			checkWindows(t, both, project, projectBurst)
			for i := range byApp {
				slices.SortFunc(byApp[i], time.Time.Compare)
				checkWindows(t, byApp[i], app, appBurst)
			}
			if tt.cuts {
				if back == 0 {
					t.Error("no slots were given back: the test did not exercise the give-back")
				}
				return
			}
			if len(both) < int(project*1.5*0.8) {
				t.Errorf("two apps at %v/s under a %v/s cap took %d tokens in 1.5s, want about %v", app, project, len(both), project*1.5)
			}
		})
	}
}

// A lease reserved ahead of the project's timeline is the app's alone: its
// tokens keep the app's own lateness, not the project's shorter one.
func TestLevelsAppOnlyLeaseKeepsTheAppsSlack(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, DB: r.DB})
	t.Cleanup(func() { c.Close() })
	p, err := New(c, Config{Key: "sinch:{p}", Rate: 800, Burst: 16}) // lateness 18.75ms
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(c, Config{Key: "sinch:{p}:app", Rate: 20, Burst: 2}) // lateness 50ms
	if err != nil {
		t.Fatal(err)
	}
	l := NewLevels(a, p)
	for range 2 { // the second lease starts 50ms after the first, ahead of the idle project
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	joint, slack := a.joint, a.slack
	a.mu.Unlock()
	if joint {
		t.Fatal("the second lease was drawn on the project's timeline too")
	}
	if slack <= p.lateness {
		t.Errorf("the app-only lease's slack: got %v, want the app's lateness %v less the clock's uncertainty", slack, a.lateness)
	}
}

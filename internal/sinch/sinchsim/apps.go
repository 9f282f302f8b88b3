package sinchsim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// DefaultOutboundQueueSize is the capacity of an app's MT queue, as Sinch
// documents it (queue_stats.outbound_limit).
const DefaultOutboundQueueSize = 500000

// App is one Conversation API app of the simulated project.
type App struct {
	// ID is the app_id sends and GET app name. Required.
	ID string
	// OutboundRate is the messages per second the app's MT queue forwards
	// to the channels (with Config.ModelOutboundQueues), which GET app
	// reports as rate_limits.outbound. Defaults to Config.OutboundRate.
	OutboundRate int
	// Channels are those the app has credentials for (GET app's
	// channel_credentials). Defaults to every channel.
	Channels []string
	// QueueSize is the capacity of the app's MT queue: with
	// Config.ModelOutboundQueues, a send that finds it full answers 429
	// with Retry-After. Defaults to Config.OutboundQueueSize.
	QueueSize int
}

// ParseApps reads the --apps syntax: comma-separated ID[=RATE][:CHANNEL+CHANNEL...],
// e.g. "sim-app=20,app2=200:SMS+WHATSAPP". A missing rate or channel list
// takes the Config defaults. Errors name the entry.
func ParseApps(spec string) ([]App, error) {
	var apps []App
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("entry %d (%q): %s", i+1, entry, fmt.Sprintf(format, args...))
		}
		if entry == "" {
			return nil, bad("is empty (want ID[=RATE][:CHANNEL+CHANNEL...])")
		}
		head, chans, hasChans := strings.Cut(entry, ":")
		id, rate, hasRate := strings.Cut(head, "=")
		a := App{ID: strings.TrimSpace(id)}
		if a.ID == "" {
			return nil, bad("has no app ID")
		}
		if hasRate {
			n, err := strconv.Atoi(strings.TrimSpace(rate))
			if err != nil || n < 1 {
				return nil, bad("rate must be a positive whole number of messages per second")
			}
			a.OutboundRate = n
		}
		if hasChans {
			for _, ch := range strings.Split(chans, "+") {
				ch = strings.ToUpper(strings.TrimSpace(ch))
				if !sinch.Channel(ch).Valid() {
					return nil, bad("unknown channel %q (want one of %s)", ch, strings.Join(channels, ", "))
				}
				a.Channels = append(a.Channels, ch)
			}
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// appsWithDefaults returns c's apps with their zero fields filled, on a
// copy so that the caller's slice is never changed.
func (c Config) appsWithDefaults() []App {
	apps := slices.Clone(c.Apps)
	if len(apps) == 0 {
		apps = []App{{ID: c.AppID}}
	}
	for i := range apps {
		a := &apps[i]
		if a.OutboundRate == 0 {
			a.OutboundRate = c.OutboundRate
		}
		if a.QueueSize == 0 {
			a.QueueSize = c.OutboundQueueSize
		}
		if len(a.Channels) == 0 {
			a.Channels = channels
		}
		a.Channels = slices.Clone(a.Channels)
	}
	return apps
}

// validateApps reports the first invalid app, naming it.
func validateApps(c Config) error {
	bad := func(id, format string, args ...any) error {
		return &FieldError{Field: "Apps", Reason: fmt.Sprintf("app %q: ", id) + fmt.Sprintf(format, args...)}
	}
	seen := map[string]bool{}
	for _, a := range c.Apps {
		switch {
		case a.ID == "":
			return &FieldError{Field: "Apps", Reason: "every app needs an ID"}
		case seen[a.ID]:
			return bad(a.ID, "is listed twice")
		case a.OutboundRate < 1:
			return bad(a.ID, "outbound rate must be at least 1 message per second")
		case a.QueueSize < 1:
			return bad(a.ID, "queue size must be at least 1")
		}
		seen[a.ID] = true
		for _, ch := range a.Channels {
			if !sinch.Channel(ch).Valid() {
				return bad(a.ID, "unknown channel %q", ch)
			}
		}
	}
	if c.Apps[0].ID != c.AppID {
		return &FieldError{Field: "AppID", Reason: fmt.Sprintf("must be empty or the first of Apps (%s)", c.Apps[0].ID)}
	}
	return nil
}

// app is an app at run time: its settings and its MT queue.
//
// The queue is modelled in time rather than with a goroutine, as a
// generic cell rate algorithm: it forwards OutboundRate messages per
// second with a burst of one second's worth (as the project's request
// limit does), so a message's turn, and the queue's depth, follow from
// the theoretical time of the next turn (tat), under the injected clock
// and in O(1).
type app struct {
	App
	interval time.Duration // one message's share of a second at OutboundRate
	tau      time.Duration // the burst: OutboundRate-1 intervals ahead
	instant  bool          // queues not modelled: every message leaves at once

	mu       sync.Mutex
	tat      time.Time
	maxDepth int

	accepted, queueFull, expired atomic.Int64
}

func newApp(a App, modelQueue bool) *app {
	interval := time.Second / time.Duration(a.OutboundRate)
	return &app{App: a, interval: interval, tau: time.Duration(a.OutboundRate-1) * interval, instant: !modelQueue}
}

// hasChannel reports whether the app has credentials for ch.
func (a *app) hasChannel(ch string) bool { return slices.Contains(a.Channels, ch) }

// enqueue queues one message at now and returns when it leaves the queue
// for its channel. ok is false when QueueSize messages are already
// waiting; wait is then how long until one has left.
func (a *app) enqueue(now time.Time) (leave time.Time, ok bool, wait time.Duration) {
	if a.instant {
		return now, true, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	depth := a.depthLocked(now)
	if depth >= a.QueueSize {
		return time.Time{}, false, a.tat.Add(-a.tau).Sub(now) - time.Duration(a.QueueSize)*a.interval
	}
	if a.tat.Before(now) {
		a.tat = now
	}
	leave = a.tat.Add(-a.tau)
	if leave.Before(now) {
		leave = now
	}
	a.tat = a.tat.Add(a.interval)
	a.maxDepth = max(a.maxDepth, a.depthLocked(now))
	return leave, true, 0
}

// depth is the number of messages waiting in the queue at now.
func (a *app) depth(now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.depthLocked(now)
}

// depthLocked counts the queued turns after now: they are spaced by
// interval and the last is at tat-tau-interval.
func (a *app) depthLocked(now time.Time) int {
	d := a.tat.Add(-a.tau).Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d+a.interval-1)/a.interval) - 1
}

// reset empties the queue and clears the counters.
func (a *app) reset() {
	a.mu.Lock()
	a.tat, a.maxDepth = time.Time{}, 0
	a.mu.Unlock()
	a.accepted.Store(0)
	a.queueFull.Store(0)
	a.expired.Store(0)
}

// stats is the app's part of Stats at now.
func (a *app) stats(now time.Time) AppStats {
	a.mu.Lock()
	depth, maxDepth := a.depthLocked(now), a.maxDepth
	a.mu.Unlock()
	return AppStats{
		Accepted:      a.accepted.Load(),
		QueueFull:     a.queueFull.Load(),
		Expired:       a.expired.Load(),
		QueueDepth:    depth,
		MaxQueueDepth: maxDepth,
		OutboundRate:  a.OutboundRate,
		QueueSize:     a.QueueSize,
	}
}

// AppStats is what one app's MT queue saw.
type AppStats struct {
	// Accepted counts messages the app accepted into its queue.
	Accepted int64 `json:"accepted"`
	// QueueFull counts sends answered 429 because the queue was full.
	QueueFull int64 `json:"queue_full"`
	// Expired counts accepted messages whose ttl passed while queued.
	Expired int64 `json:"expired"`
	// QueueDepth is the messages queued now; MaxQueueDepth the most ever.
	QueueDepth    int `json:"queue_depth"`
	MaxQueueDepth int `json:"max_queue_depth"`
	// OutboundRate and QueueSize are the app's settings, for reports.
	OutboundRate int `json:"outbound_rate"`
	QueueSize    int `json:"queue_size"`
}

// lookupApp returns the app with id, or nil.
func (s *Server) lookupApp(id string) *app {
	for _, a := range s.apps {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// defaultApp is the first app, which inbound messages without an app go to.
func (s *Server) defaultApp() *app { return s.apps[0] }

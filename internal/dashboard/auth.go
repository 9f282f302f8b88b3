package dashboard

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Auth holds the dashboard's credentials. With none set the dashboard is
// open, which Config.Validate allows on a loopback address only.
type Auth struct {
	User     string // DASHBOARD_USER
	Password string // DASHBOARD_PASSWORD
	Token    string // DASHBOARD_TOKEN: Authorization: Bearer
}

// Enabled reports whether any credential is configured.
func (a Auth) Enabled() bool { return a.User != "" || a.Token != "" }

// Login failures a client IP may make in a burst, and how fast it earns
// new attempts: 10 guesses, then one every 6 seconds (600 an hour at most).
const (
	failureBurst  = 10
	failureRefill = 6 * time.Second
	maxTrackedIPs = 10000
)

// principal is who a request authenticated as.
type principal struct {
	name   string // "user:<name>", "bearer" or "anonymous"
	bearer bool   // bearer tokens are never sent by a browser on its own: no CSRF risk
}

// authenticator checks credentials and throttles failures per client IP.
type authenticator struct {
	auth     Auth
	userSum  [32]byte
	passSum  [32]byte
	tokenSum [32]byte
	now      func() time.Time

	mu       sync.Mutex
	failures map[string]*rate.Limiter
}

func newAuthenticator(a Auth) *authenticator {
	return &authenticator{
		auth:     a,
		userSum:  sha256.Sum256([]byte(a.User)),
		passSum:  sha256.Sum256([]byte(a.Password)),
		tokenSum: sha256.Sum256([]byte(a.Token)),
		now:      time.Now,
		failures: map[string]*rate.Limiter{},
	}
}

// equal compares a secret with a configured one in constant time. Hashing
// first makes the comparison's time independent of the lengths too.
func equal(given string, want [32]byte) bool {
	sum := sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// check returns who the request is, or ok=false.
func (a *authenticator) check(r *http.Request) (p principal, ok bool) {
	if !a.auth.Enabled() {
		return principal{name: "anonymous"}, true
	}
	if h := r.Header.Get("Authorization"); a.auth.Token != "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return principal{name: "bearer", bearer: true}, equal(strings.TrimSpace(h[7:]), a.tokenSum)
	}
	user, pass, hasBasic := r.BasicAuth()
	if !hasBasic || a.auth.User == "" {
		return principal{}, false
	}
	// Both compared, always: no early exit tells which one was wrong.
	userOK := equal(user, a.userSum)
	passOK := equal(pass, a.passSum)
	return principal{name: "user:" + a.auth.User}, userOK && passOK
}

// limiter returns the failure budget of ip.
func (a *authenticator) limiter(ip string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.failures[ip]
	if !ok {
		if len(a.failures) >= maxTrackedIPs {
			a.prune()
		}
		l = rate.NewLimiter(rate.Every(failureRefill), failureBurst)
		a.failures[ip] = l
	}
	return l
}

// prune forgets the IPs whose budget is full again (they failed long ago).
// Called with mu held.
func (a *authenticator) prune() {
	now := a.now()
	for ip, l := range a.failures {
		if l.TokensAt(now) >= failureBurst {
			delete(a.failures, ip)
		}
	}
}

// clientIP is the TCP peer. X-Forwarded-For is not trusted: anyone can
// send it, and trusting it would let a guesser pick a fresh IP per try.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// middleware lets authenticated requests through to next with their
// principal, answers 401 otherwise, and 429 to an IP that failed too often
// (before looking at its credentials, so a throttled guesser learns
// nothing, not even a right guess).
func (a *authenticator) middleware(next func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.auth.Enabled() {
			next(w, r, principal{name: "anonymous"})
			return
		}
		lim := a.limiter(clientIP(r))
		now := a.now()
		if tokens := lim.TokensAt(now); tokens < 1 {
			delay := time.Duration((1 - tokens) * float64(failureRefill))
			w.Header().Set("Retry-After", strconv.Itoa(int(delay/time.Second)+1))
			http.Error(w, "too many failed logins from your address; try again later", http.StatusTooManyRequests)
			return
		}
		p, ok := a.check(r)
		if !ok {
			if r.Header.Get("Authorization") != "" {
				lim.AllowN(now, 1) // only wrong credentials count, not the browser's first bare request
			}
			a.challenge(w)
			return
		}
		next(w, r, p)
	})
}

// challenge answers 401 with the schemes the dashboard accepts.
func (a *authenticator) challenge(w http.ResponseWriter) {
	if a.auth.User != "" {
		w.Header().Add("WWW-Authenticate", `Basic realm="sinch-dispatch dashboard", charset="UTF-8"`)
	}
	if a.auth.Token != "" {
		w.Header().Add("WWW-Authenticate", `Bearer realm="sinch-dispatch dashboard"`)
	}
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

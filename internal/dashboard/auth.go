package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Auth holds the dashboard's credentials. With none set the dashboard is
// open, which Config.Validate allows on a loopback address only.
type Auth struct {
	User     string // DASHBOARD_USER: an admin
	Password string // DASHBOARD_PASSWORD
	Token    string // DASHBOARD_TOKEN: Authorization: Bearer, an operator
	// Users are the users file's (DASHBOARD_USERS_FILE), each with its
	// role.
	Users []User
}

// Enabled reports whether any credential is configured.
func (a Auth) Enabled() bool { return a.User != "" || a.Token != "" || len(a.Users) > 0 }

// basic reports whether HTTP Basic logins are possible.
func (a Auth) basic() bool { return a.User != "" || len(a.Users) > 0 }

// Login failures a client IP may make in a burst, and how fast it earns
// new attempts: 10 guesses, then one every 6 seconds (600 an hour at most).
const (
	failureBurst  = 10
	failureRefill = 6 * time.Second
	maxTrackedIPs = 10000
)

// loginCacheTTL is how long a successful Basic login is remembered, so
// that a browser's every request does not pay a bcrypt check (~50-100 ms).
const loginCacheTTL = 5 * time.Minute

// principal is who a request authenticated as.
type principal struct {
	name   string // "user:<name>", "bearer" or "anonymous"
	role   Role
	bearer bool // bearer tokens are never sent by a browser on its own: no CSRF risk
}

// may reports whether p's role is at least need.
func (p principal) may(need Role) bool { return p.role >= need }

// authenticator checks credentials and throttles failures per client IP.
type authenticator struct {
	auth     Auth
	userSum  [32]byte
	passSum  [32]byte
	tokenSum [32]byte
	users    map[string]User
	// dummy is compared when the name is no file user's, so an unknown
	// name costs the same bcrypt check as a known one.
	dummy []byte
	// cacheKey keys the HMAC of cached passwords: what memory holds is
	// no plain hash of a password.
	cacheKey []byte
	now      func() time.Time

	mu       sync.Mutex
	failures map[string]*rate.Limiter
	logins   map[string]cachedLogin // by user name: successes only, so at most one per user
}

type cachedLogin struct {
	sum   [32]byte // HMAC(cacheKey, password)
	p     principal
	until time.Time
}

func newAuthenticator(a Auth) *authenticator {
	au := &authenticator{
		auth:     a,
		userSum:  sha256.Sum256([]byte(a.User)),
		passSum:  sha256.Sum256([]byte(a.Password)),
		tokenSum: sha256.Sum256([]byte(a.Token)),
		users:    make(map[string]User, len(a.Users)),
		cacheKey: make([]byte, 32),
		now:      time.Now,
		failures: map[string]*rate.Limiter{},
		logins:   map[string]cachedLogin{},
	}
	rand.Read(au.cacheKey) // never fails (crypto/rand)
	cost := 0
	for _, u := range a.Users {
		au.users[u.Name] = u
		if c, err := bcrypt.Cost(u.Hash); err == nil && c > cost {
			cost = c // validated by ReadUsers
		}
	}
	if len(a.Users) > 0 {
		// The highest cost: with one cost for every user (the usual
		// case), unknown and known names take the same time.
		au.dummy, _ = bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	}
	return au
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
		// Open on loopback only (Auth.Validate): whoever runs it there.
		return principal{name: "anonymous", role: RoleAdmin}, true
	}
	if h := r.Header.Get("Authorization"); a.auth.Token != "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return principal{name: "bearer", role: RoleOperator, bearer: true}, equal(strings.TrimSpace(h[7:]), a.tokenSum)
	}
	user, pass, hasBasic := r.BasicAuth()
	if !hasBasic || !a.auth.basic() {
		return principal{}, false
	}
	sum := a.passwordSum(pass)
	if p, ok := a.cached(user, sum); ok {
		return p, true
	}
	p, ok = a.verify(user, pass)
	if ok {
		a.mu.Lock()
		a.logins[user] = cachedLogin{sum: sum, p: p, until: a.now().Add(loginCacheTTL)}
		a.mu.Unlock()
	}
	return p, ok
}

// verify checks a Basic login against the users file and DASHBOARD_USER.
// Both checks always run, with no early exit, so the time taken tells
// neither which names exist nor which part was wrong.
func (a *authenticator) verify(user, pass string) (principal, bool) {
	var fileOK bool
	u, known := a.users[user]
	if len(a.users) > 0 {
		hash := a.dummy
		if known {
			hash = u.Hash
		}
		fileOK = bcrypt.CompareHashAndPassword(hash, []byte(pass)) == nil && known
	}
	userOK := equal(user, a.userSum)
	passOK := equal(pass, a.passSum)
	switch {
	case fileOK:
		return principal{name: "user:" + u.Name, role: u.Role}, true
	case a.auth.User != "" && userOK && passOK:
		return principal{name: "user:" + a.auth.User, role: RoleAdmin}, true
	}
	return principal{}, false
}

func (a *authenticator) passwordSum(pass string) (sum [32]byte) {
	m := hmac.New(sha256.New, a.cacheKey)
	m.Write([]byte(pass))
	copy(sum[:], m.Sum(nil))
	return sum
}

// cached returns user's remembered login if pass (as sum) is its password.
func (a *authenticator) cached(user string, sum [32]byte) (principal, bool) {
	a.mu.Lock()
	c, ok := a.logins[user]
	a.mu.Unlock()
	if !ok || !a.now().Before(c.until) || subtle.ConstantTimeCompare(c.sum[:], sum[:]) != 1 {
		return principal{}, false
	}
	return c.p, true
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
			p, _ := a.check(r)
			next(w, r, p)
			return
		}
		lim := a.limiter(clientIP(r))
		now := a.now()
		// The try is taken from the budget before the (bcrypt) check and
		// given back unless it fails, so concurrent guesses from one IP
		// cannot all run before the first failure is counted.
		try := lim.ReserveN(now, 1)
		if delay := try.DelayFrom(now); delay > 0 {
			try.CancelAt(now)
			w.Header().Set("Retry-After", strconv.Itoa(int(delay/time.Second)+1))
			http.Error(w, "too many failed logins from your address; try again later", http.StatusTooManyRequests)
			return
		}
		p, ok := a.check(r)
		if !ok && r.Header.Get("Authorization") != "" {
			a.challenge(w) // wrong credentials: the try stays spent
			return
		}
		try.CancelAt(now) // a success, or the browser's first bare request: nothing spent
		if !ok {
			a.challenge(w)
			return
		}
		next(w, r, p)
	})
}

// challenge answers 401 with the schemes the dashboard accepts.
func (a *authenticator) challenge(w http.ResponseWriter) {
	if a.auth.basic() {
		w.Header().Add("WWW-Authenticate", `Basic realm="sinch-dispatch dashboard", charset="UTF-8"`)
	}
	if a.auth.Token != "" {
		w.Header().Add("WWW-Authenticate", `Bearer realm="sinch-dispatch dashboard"`)
	}
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

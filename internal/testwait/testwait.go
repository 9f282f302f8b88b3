// Package testwait polls observable state in tests: a test waits for a
// condition it can see (a counter, a queue's size, a log line) instead of
// sleeping a fixed time and hoping the system got there.
//
// Only tests import it, so no binary links package testing through it.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often a condition is polled.
const Interval = 20 * time.Millisecond

// Until polls cond every Interval until it holds, and reports whether it
// did within timeout. cond runs on the caller's goroutine, so it may call
// t.Fatal.
func Until(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}

// For polls cond until it holds and fails t when timeout passes first,
// naming what it waited for.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

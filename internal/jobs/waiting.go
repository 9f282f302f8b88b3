package jobs

// WaitKind says why a deferred send task waits, read from the last error
// asynq recorded with it (what ProcessTask returned).
type WaitKind int

const (
	// NotWaiting: a real retry (5xx, timeout, 429, busy) or unknown.
	NotWaiting WaitKind = iota
	// WaitingWindow: deferred to its campaign's next send-window opening.
	WaitingWindow
	// WaitingResume: deferred while its campaign is paused.
	WaitingResume
)

// Waiting tells a task deferred without an attempt (quiet hours, a pause)
// by its last error.
func Waiting(lastErr string) WaitKind {
	switch lastErr {
	case errQuietHours.Error():
		return WaitingWindow
	case errPaused.Error():
		return WaitingResume
	}
	return NotWaiting
}

package offline

import "time"

// Clock is the worker's source of time: Now for every timestamp it writes
// and NewTimer for every wait (backoff, probes, the deadline scan, the rate
// limit). Tests pass a fake (offlinetest.Clock) to run a 72-hour outage in
// seconds.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now (at once for d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped it.
	Stop() bool
}

// SystemClock returns the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

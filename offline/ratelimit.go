package offline

import (
	"context"
	"time"
)

// limiter is a token bucket on a Clock: rate tokens per second, at most
// burst saved up. A zero rate means no limit. It is used by the dispatcher
// goroutine only.
type limiter struct {
	clock  Clock
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(clock Clock, rate float64, burst int) *limiter {
	return &limiter{clock: clock, rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// delay takes a token if one is there and returns 0, or returns how long
// until one will be.
func (l *limiter) delay() time.Duration {
	if l.rate <= 0 {
		return 0
	}
	now := l.clock.Now()
	if !l.last.IsZero() && now.After(l.last) {
		l.tokens += now.Sub(l.last).Seconds() * l.rate
		if l.tokens > l.burst {
			l.tokens = l.burst
		}
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	d := time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	if d <= 0 {
		d = time.Nanosecond
	}
	return d
}

// wait blocks until a token is taken or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	for {
		d := l.delay()
		if d == 0 {
			return nil
		}
		t := l.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

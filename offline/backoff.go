package offline

import (
	"math/rand/v2"
	"time"
)

// backoff returns the wait before retry n (0 for the first retry):
// base·2^n capped at max, less a random fraction of up to jitter of it
// ("full jitter" scaled down, so a retry never comes later than the cap).
func backoff(n int, base, max time.Duration, jitter float64, rnd func() float64) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max || d <= 0 {
		d = max
	}
	if jitter > 0 {
		d -= time.Duration(float64(d) * jitter * rnd())
	}
	if d <= 0 {
		d = time.Millisecond
	}
	return d
}

// defaultRand is the jitter source.
func defaultRand() float64 { return rand.Float64() }

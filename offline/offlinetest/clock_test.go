package offlinetest

import (
	"testing"
	"time"
)

func fired(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c := NewClock(start)
	a, b, stopped := c.NewTimer(time.Minute), c.NewTimer(time.Hour), c.NewTimer(2*time.Minute)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop of a pending timer must report true once")
	}
	if next, ok := c.NextTimer(); !ok || !next.Equal(start.Add(time.Minute)) || c.Timers() != 2 {
		t.Fatalf("NextTimer %v %v, %d timers", next, ok, c.Timers())
	}
	c.Advance(59 * time.Second)
	if fired(a.C()) || fired(b.C()) {
		t.Fatal("fired early")
	}
	c.Advance(time.Second)
	if !fired(a.C()) || fired(b.C()) || a.Stop() {
		t.Fatal("the one-minute timer must fire at one minute, and only it")
	}
	c.Set(start) // never backwards
	if !c.Now().Equal(start.Add(time.Minute)) {
		t.Fatalf("Set moved the clock back to %v", c.Now())
	}
	c.Set(start.Add(2 * time.Hour))
	if !fired(b.C()) || fired(stopped.C()) || c.Timers() != 0 {
		t.Fatal("Set must fire due timers and not stopped ones")
	}
	if z := c.NewTimer(0); !fired(z.C()) {
		t.Fatal("a zero timer fires at once")
	}
}

package actors

import (
	"time"

	"gregor/cluster"
)

// Clock is where a node's shells read the time: wall time for record
// timestamps and log housekeeping, monotonic time for deadlines. Cores are
// handed what it returns and never read a clock themselves.
type Clock interface {
	Now() cluster.Instant
}

// systemClock is the operating system's clock; its monotonic time counts from
// the node's start.
type systemClock struct{ origin time.Time }

func newSystemClock() systemClock { return systemClock{origin: time.Now()} }

// Now implements Clock.
func (c systemClock) Now() cluster.Instant {
	now := time.Now()
	return cluster.Instant{WallMs: now.UnixMilli(), MonoMs: now.Sub(c.origin).Milliseconds()}
}

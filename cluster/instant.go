package cluster

// Instant is the time as a core is told it: WallMs is the wall clock (Unix
// milliseconds), for record timestamps, segment ages and retention; MonoMs is
// a monotonic clock (milliseconds from an arbitrary origin), for every
// deadline and timeout, so a wall clock that jumps never fires or starves a
// timer (CORRECTNESS.md B17). Cores never read a clock: the caller hands them
// an Instant.
type Instant struct {
	WallMs int64
	MonoMs int64
}

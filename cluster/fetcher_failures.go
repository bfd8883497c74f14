package cluster

// FetcherFailures decides how long the replacement of a failed replica
// fetcher waits before it fetches: not at all after a first failure, or
// one more than fetcherFailureQuietMs after the previous failure of the
// same source broker's fetcher (and its pause); else twice the previous
// pause, from 100 ms up to 5 s. A fetcher that fails on every answer (a
// bug) then neither spins nor floods the log. The zero value is ready.
type FetcherFailures struct {
	last map[int32]fetcherFailure
}

// fetcherFailure is when a source broker's fetcher last failed (monotonic
// ms) and how long its replacement waited before fetching.
type fetcherFailure struct{ atMs, delayMs int64 }

const (
	fetcherFailureQuietMs = 10_000
	fetcherFirstPauseMs   = 100
	fetcherMostPauseMs    = 5_000
)

// Failed records that the fetcher of leader failed at now and returns how
// long (ms) its replacement waits before fetching.
func (f *FetcherFailures) Failed(leader int32, now Instant) int64 {
	if f.last == nil {
		f.last = map[int32]fetcherFailure{}
	}
	delayMs := int64(0)
	if prev, ok := f.last[leader]; ok && now.MonoMs-prev.atMs <= fetcherFailureQuietMs+prev.delayMs {
		delayMs = min(max(2*prev.delayMs, fetcherFirstPauseMs), fetcherMostPauseMs)
	}
	f.last[leader] = fetcherFailure{atMs: now.MonoMs, delayMs: delayMs}
	return delayMs
}

package sim

import (
	"slices"
	"strconv"
	"strings"
)

// maxDropReplays bounds the replays Shrink spends dropping single faults.
const maxDropReplays = 32

// Shrink finds a small part of a failing run's fault schedule that still
// fails, in two steps, each replaying the run's seed (same options, no
// outputs) with a cut schedule:
//
//   - the shortest prefix: it binary searches k, the faults kept, between
//     0 and the faults the failing run injected before its violation.
//     Whether a cut schedule fails need not be monotone in k, so k is the
//     shortest the search found, not always the shortest there is; but
//     when k > 0, the cut at k-1 was replayed and passed. At most about
//     log2(faults)+1 replays;
//   - then subsets: it drops single faults of the prefix (the last one
//     stays: without it the prefix is k-1), latest first, keeping each
//     drop after which the run still fails with the prefix's checker. At most
//     maxDropReplays replays.
//
// Each fault draws its own randomness (faults.go), so the faults kept
// happen at the same times with the same choices; what they do may differ
// in a world that lacks the dropped ones. It returns k and the report of
// the replay it ends with (which fails): its Faults are the faults kept,
// its SkipFaults those dropped, its ReplayCommand replays it.
func Shrink(opts Options, failed *Report) (int, *Report) {
	opts.Trace, opts.Timeline, opts.HTML = nil, nil, nil
	opts.LimitFaults, opts.SkipFaults = true, nil
	if opts.Profile == nil {
		p := failed.Profile
		opts.Profile = &p
	}
	lo, hi := 0, len(failed.Faults)
	if n := len(failed.Faults); n > 0 {
		hi = failed.Faults[n-1].Index
	}
	var best *Report
	replay := func(k int, skip []int) *Report {
		opts.MaxFaults, opts.SkipFaults = k, skip
		return Run(opts)
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if rep := replay(mid, nil); rep.Failed() {
			hi, best = mid, rep
		} else {
			lo = mid + 1
		}
	}
	if best == nil || best.MaxFaults != hi {
		best = replay(hi, nil)
	}
	if !best.Failed() {
		return hi, best
	}
	check := best.Violations[0].Check
	var skip []int
	replays := 0
	kept := best.Faults
	for i := len(kept) - 2; i >= 0 && replays < maxDropReplays; i-- {
		try := append(slices.Clone(skip), kept[i].Index)
		slices.Sort(try)
		replays++
		if rep := replay(hi, try); rep.Failed() && rep.Violations[0].Check == check {
			skip, best = try, rep
		}
	}
	return hi, best
}

// joinInts prints ints separated by commas.
func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

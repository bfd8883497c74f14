package sim

// Shrink finds the shortest prefix of a failing run's fault schedule that
// still fails: it replays the run's seed (same options, no outputs) with
// the schedule cut after k faults, binary searching k between 0 and the
// faults the failing run injected before its violation. It returns k and
// the report of the replay with k faults (which fails). Whether a cut
// schedule fails need not be monotone in k, so k is the shortest the
// search found, not always the shortest there is; but when k > 0, the cut
// at k-1 was replayed and passed.
//
// Replays run one after another, each as long as a run up to its end or
// violation: at most about log2(faults)+1 of them.
func Shrink(opts Options, failed *Report) (int, *Report) {
	opts.Trace, opts.Timeline, opts.HTML = nil, nil, nil
	opts.LimitFaults = true
	lo, hi := 0, len(failed.Faults)
	if opts.Profile == nil {
		p := failed.Profile
		opts.Profile = &p
	}
	var best *Report
	replay := func(k int) *Report {
		opts.MaxFaults = k
		return Run(opts)
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if rep := replay(mid); rep.Failed() {
			hi, best = mid, rep
		} else {
			lo = mid + 1
		}
	}
	if best == nil || best.MaxFaults != hi {
		best = replay(hi)
	}
	return hi, best
}

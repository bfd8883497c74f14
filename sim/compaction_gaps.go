package sim

import "slices"

// Gaps compaction leaves whose successor is gone. compactionLog.dropped
// knows each dropped batch by the batch that followed it as first written,
// which is enough while that batch stays. But compaction removes records
// that a later record of the same key superseded, and that later record
// may itself be truncated afterwards: a loss the guarantees allow (a power
// loss dropped committed records, so a replica truncates to agree with a
// leader that never had them) takes the superseding records, and with
// them the batch that named the dropped ones. The replica's log then holds
// a gap that compaction made with a different batch after it (seed 13
// with --duration 3m: the new leader's batch at the same offset, in a
// later leader epoch), or nothing at all up to its end (seed 529: a
// compacted prefix whose superseding records were all truncated; a read at
// the log start returns nothing, and production's readers stop there).
//
// So each dropped batch is also known by the batch before it as first
// written (follows), and a gap the successor cannot fill is filled forward
// from the shadow's last batch: the run of dropped batches after it that
// ends exactly where the log goes on (or ends).

// logStartID names the place before a log's first batch at offset start:
// the predecessor of a dropped batch compaction found first in the shadow.
func logStartID(start int64) batchID { return batchID{base: start, last: start - 1, epoch: -1} }

// registerFollows notes that d, dropped by compaction, followed prev in
// the log as first written.
func (c *compactionLog) registerFollows(prev batchID, d shadowBatch) {
	if c.follows == nil {
		c.follows = map[batchID][]shadowBatch{}
	}
	if !slices.ContainsFunc(c.follows[prev], func(e shadowBatch) bool { return e.id() == d.id() }) {
		c.follows[prev] = append(c.follows[prev], d)
	}
}

// lastID is the shadow's last batch as first written, or the place before
// its first batch when it holds none.
func (s *shadowLog) lastID() batchID {
	if n := len(s.batches); n > 0 {
		return s.batches[n-1].id()
	}
	return logStartID(s.start)
}

// fillForward adds to the shadow the run of batches compaction dropped
// after its last batch that ends exactly at offset end (the next batch the
// log holds, or its end); it says whether it found one. Of several runs
// (histories that diverged after the shadow's last batch), the first
// registered that fits is taken.
func (s *shadowLog) fillForward(end int64) bool {
	if s.canon == nil || end <= s.end() {
		return end == s.end()
	}
	run := s.canon.runTo(s.lastID(), s.end(), end)
	if run == nil {
		return false
	}
	for _, b := range run {
		b.filled = true
		s.pushBatch(b)
	}
	s.canon.filled += len(run)
	return true
}

// runTo is a run of dropped batches after prev, starting at from and
// ending exactly at end, or nil. Each step moves from forward, so the
// search ends.
func (c *compactionLog) runTo(prev batchID, from, end int64) []shadowBatch {
	for _, d := range c.follows[prev] {
		switch {
		case d.base != from || d.last >= end:
			continue
		case d.last+1 == end:
			return []shadowBatch{d}
		}
		if rest := c.runTo(d.id(), d.last+1, end); rest != nil {
			return append([]shadowBatch{d}, rest...)
		}
	}
	return nil
}

package sim

import (
	"fmt"
	"slices"

	"gregor/logstore"
)

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
// A log read again at a restart is first filled from the shadow of the
// replica that last had it open (prev): the recovered log is a prefix of
// what that replica held, so its batches as first written are exact, where
// the same offsets may have held other batches in other histories. A gap
// before batches a follower fetched is likewise first filled from its
// leader's shadow, the history it copies. Failing
// that, each dropped batch is also known by the batch before it as first
// written (follows), and a gap the successor cannot fill is filled forward
// from the shadow's last batch: the run of dropped batches after it that
// ends exactly where the log goes on (or ends).

// keepShadow keeps the shadow of a replica whose log closes with its data
// kept, for the next open of the log.
func (n *node) keepShadow(h *replicaHost) {
	if h.log == nil {
		return
	}
	if n.closedShadows == nil {
		n.closedShadows = map[tpKey]*shadowLog{}
	}
	s := h.shadow
	s.batches = slices.Clone(s.batches)
	n.closedShadows[h.key] = &s
}

// fillFromPrev fills the gap from the shadow's end to end with the batches
// the previous shadow held there, if it held the same log up to the gap
// and its batches fill it exactly; it says whether it did.
func (s *shadowLog) fillFromPrev(end int64) bool {
	p := s.prev
	if p == nil || p.start != s.start {
		return false
	}
	i := p.find(s.end())
	if i < 0 || p.batches[i].base != s.end() {
		return false
	}
	n := len(s.batches)
	if (i == 0) != (n == 0) || n > 0 && p.batches[i-1].chain != s.batches[n-1].chain {
		return false
	}
	j := i
	for j < len(p.batches) && p.batches[j].last < end {
		j++
	}
	if j == i || p.batches[j-1].last+1 != end {
		return false
	}
	for _, b := range p.batches[i:j] {
		s.pushBatch(b)
	}
	if s.canon != nil {
		s.canon.filled += j - i
	}
	return true
}

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
	if c.droppedIDs == nil {
		c.droppedIDs = map[batchID]bool{}
	}
	c.droppedIDs[d.id()] = true
}

// wasDropped says compaction dropped the batch id (as first written) on
// some replica: a log may hold it in its shadow only, and its leader-epoch
// cache need not cover it (a follower that fetched past it from a
// compacted leader starts the epoch at the first batch it got).
func (c *compactionLog) wasDropped(id batchID) bool { return c != nil && c.droppedIDs[id] }

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
	run := s.canon.runTo(s.lastID(), s.end(), end, map[batchID]bool{})
	if run == nil {
		return false
	}
	for _, b := range run {
		s.pushBatch(b)
	}
	s.canon.filled += len(run)
	return true
}

// runTo is a run of dropped batches after prev, starting at from and
// ending exactly at end, or nil. Each step moves from forward, so the
// search ends.
// failed holds the batches after which no run reaches end, so that the
// search visits each batch once (histories that diverge and meet again
// would make it exponential).
func (c *compactionLog) runTo(prev batchID, from, end int64, failed map[batchID]bool) []shadowBatch {
	if failed[prev] {
		return nil
	}
	for _, d := range c.follows[prev] {
		switch {
		case d.base != from || d.last >= end:
			continue
		case d.last+1 == end:
			return []shadowBatch{d}
		}
		if rest := c.runTo(d.id(), d.last+1, end, failed); rest != nil {
			return append([]shadowBatch{d}, rest...)
		}
	}
	failed[prev] = true
	return nil
}

// logHolds says the log holds a batch starting at base.
func logHolds(log *logstore.Log, base int64) bool {
	recs, err := log.Read(base, 1, base+1)
	if err != nil {
		return false
	}
	raw, err := recs.Bytes()
	recs.Release()
	if err != nil || len(raw) == 0 {
		return false
	}
	size, err := logstore.BatchSize(raw)
	if err != nil || size > len(raw) {
		return false
	}
	b, err := logstore.ParseBatch(raw[:size])
	return err == nil && b.FirstOffset == base
}

// checkGapsRegistered is the simulator's check on itself, at a compaction
// commit: every batch the shadow holds that the log no longer does (below
// the log's last batch) was registered as dropped. A change to the log
// that bypassed the registration (a commit that failed after swapping
// groups in, seed 342) would otherwise surface much later as a gap that a
// replica reading the compacted log cannot fill, and S4 would blame the
// replicas for it.
func (s *shadowLog) checkGapsRegistered(c *compactionLog, v *logView) {
	if len(v.batches) == 0 {
		return
	}
	held := make(map[int64]bool, len(v.batches))
	for _, b := range v.batches {
		held[b.id.base] = true
	}
	end := v.batches[len(v.batches)-1].id.base
	for _, sb := range s.batches {
		if sb.base >= end {
			return
		}
		if !held[sb.base] && !c.wasDropped(sb.id()) {
			panic(fmt.Sprintf("sim: the shadow holds batch [%d, %d] of leader epoch %d, which the log lost without a registered compaction",
				sb.base, sb.last, sb.epoch))
		}
	}
}

// emptyEndFell registers what a restart with no power loss dropped from a
// log whose end fell from before to end: a stretch that held no batch,
// only batches compaction removed (closed is the shadow of the replica
// that last had the log open). The log's end had no batch to mark it; a
// restart recovers the end from the last batch, as Kafka's does.
//
// A log ends in such a stretch only when a truncation cut it inside a
// compacted part (seed 7 of TestCompactionRunsAsEvents's profile: n3 had
// compacted [551, 555) away against records up to 629; a power loss took
// the committed records [555, 644) from n1, which led next, and n3
// truncated to 555, below its own compacted range, so its log held no
// batch from 551 to its end; a process crash then brought its end back to
// 551, and n3, elected from the ISR, lacked the offsets leader epoch 7 had
// committed). Compaction stops at the high watermark, so that truncation
// cuts committed records: it follows a loss the guarantees allow (here the
// power loss), and so is one. A fall before any such loss of tp, or over
// batches compaction did not remove, is left to the checks (S2, S3), as a
// broker bug.
func (c *serverChecks) emptyEndFell(tp tpKey, node int32, closed *shadowLog, end, before int64) {
	if closed == nil || closed.end() != before || c.w.lossEra[tp] == 0 {
		return
	}
	i := closed.find(end)
	if i < 0 || closed.batches[i].base != end {
		return
	}
	for _, b := range closed.batches[i:] {
		if !c.w.compaction[tp].wasDropped(b.id()) {
			return
		}
	}
	c.dropped[tp] = append(c.dropped[tp], offsetRange{node: node, from: end, to: before,
		why: fmt.Sprintf("n%d's log end fell from %d to %d at a restart, over a stretch compaction had emptied before a truncation cut into it", node, before, end)})
	c.w.lossEra[tp]++
	c.w.stateLost(tp)
	c.w.loss("n%d %s: the log end fell from %d to %d at the restart: compaction had removed every batch there, and a truncation ended the log inside that stretch", node, tp, before, end)
	c.w.timelinef("n%d: %s log end fell from %d to %d at the restart (a compacted stretch a truncation cut into)", node, tp, before, end)
}

// fillEmptyStretch takes an empty batch a leader answered over a stretch of
// its log that holds no batch (cluster's emptyStretch): the shadow holds
// the batches compaction dropped there as first written, as for any gap
// (from prev, the leader's shadow while a follower appends, the shadow of
// the log's last opener at a restart; else forward from the shadow's last
// batch), not the empty batch. It says whether it did; if not, the batch
// goes in as any other, and S4 compares it.
func (s *shadowLog) fillEmptyStretch(b logstore.Batch) bool {
	if b.FirstOffset < s.end() {
		return false
	}
	end := b.NextOffset()
	return s.fillFromPrev(end) || s.fillForward(end)
}

// traceEmptyStretches notes the empty batches a follower took over a
// stretch of its leader's log that holds no batch.
func (h *replicaHost) traceEmptyStretches(batches [][]byte) {
	for _, p := range batches {
		if b, err := logstore.ParseBatch(p); err == nil && logstore.IsEmptyStretchBatch(&b) {
			h.n.w.stats.EmptyStretches++
			h.n.w.timelinef("%s: %s appends the empty stretch [%d, %d] of leader epoch %d (its leader's log holds no batch there)",
				h.n.name(), h.key, b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch)
		}
	}
}

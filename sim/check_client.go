package sim

import (
	"fmt"
	"slices"
)

// The client-side checkers of CORRECTNESS.md §2.2, over the history once
// the run has healed and read everything back:
//
//   - Q1: every offset of a partition holds at most one value in the
//     polls;
//   - Q3: every acknowledged acks=all write at or below the highest offset
//     any poll read was read;
//   - Q4: after the final read, every acknowledged acks=all write was read;
//   - Q8: a producer's acknowledged sends to a partition get increasing
//     offsets;
//   - Q9: an assigned consumer's poll starts at its position and reads
//     consecutive offsets, skipping only offsets compaction removed;
//   - Q11: an offset an acks=all write was acknowledged at holds that
//     write's value when read (never read there: Q3, Q4).
//
// Q3, Q4 and Q11 hold where the guarantees promise them (D1:
// min.insync.replicas ≥ 2, more than one replica, unclean elections off);
// elsewhere, and where the partition lost committed records (D2: with
// KIP-966's eligible leader replicas, which the simulated cluster keeps,
// only an election from the last known ELR after every member lost power
// does; power losses and wipes of fewer replicas lose nothing
// acknowledged), a lost write is reported as a loss the guarantees allow.
// Writes acknowledged with acks=1 promise nothing: their losses are
// reported. A write at an offset compaction removed is no loss: C1
// (checked at each compaction) made sure a later record of its key was
// kept. A producer's retries may append a value twice (idempotence is
// off), so values are not required to appear once.
type historyChecker struct {
	w *World
	// reads maps each partition's offsets to the value polls read there.
	reads   map[tpKey]map[int64]string
	maxRead map[tpKey]int64
	// topics are the topics' settings as the clients last saw them, but
	// for min.insync.replicas: the lowest the topic had.
	topics map[string]topicMetadata
}

func (w *World) checkHistory(final bool) {
	c := &historyChecker{w: w, reads: map[tpKey]map[int64]string{}, maxRead: map[tpKey]int64{}, topics: map[string]topicMetadata{}}
	for _, cl := range w.clients {
		for name, t := range cl.meta.topics {
			c.topics[name] = t
		}
	}
	for name, t := range c.topics {
		if low, ok := w.checks.lowestMinISR[name]; ok && low < t.minISR {
			t.minISR = low
			c.topics[name] = t
		}
	}
	if !c.checkPolls() || !c.checkDeletedReads() || !c.checkTimestamps() || !c.checkSends(final) || !c.checkProcessed() {
		return
	}
	c.checkSendOrder()
	if !w.stopped && c.checkReadCommitted() {
		c.checkTxns(final)
	}
}

// checkPolls builds the log view from the polls: Q1 and Q9.
func (c *historyChecker) checkPolls() bool {
	w := c.w
	for _, p := range w.hist.polls {
		w.stats.InvariantsChecked++
		if p.records[0].offset != p.position && !w.skippedCompactedAway(p.tp, p.position, p.records[0].offset) {
			w.violation("Q9", fmt.Sprintf("%s polled %s from position %d but got records from offset %d", endpointName(p.process), p.tp, p.position, p.records[0].offset))
			return false
		}
		m := c.reads[p.tp]
		if m == nil {
			m = map[int64]string{}
			c.reads[p.tp] = m
		}
		for i, r := range p.records {
			if i > 0 && r.offset != p.records[i-1].offset+1 && !w.skippedCompactedAway(p.tp, p.records[i-1].offset+1, r.offset) {
				w.violation("Q9", fmt.Sprintf("%s polled %s and skipped from offset %d to %d", endpointName(p.process), p.tp, p.records[i-1].offset, r.offset))
				return false
			}
			if v, ok := m[r.offset]; ok && v != r.value {
				if why := c.excused(p.tp, r.offset); why != "" {
					w.loss("%s: offset %d read as %q and later as %q (%s)", p.tp, r.offset, v, r.value, why)
				} else {
					w.violation("Q1", fmt.Sprintf("%s offset %d read as %q and as %q", p.tp, r.offset, v, r.value))
					return false
				}
			}
			m[r.offset] = r.value
			if cur, ok := c.maxRead[p.tp]; !ok || r.offset > cur {
				c.maxRead[p.tp] = r.offset
			}
		}
	}
	return true
}

// promised says whether the guarantees promise acknowledged acks=all writes
// to tp survive (D1).
func (c *historyChecker) promised(tp tpKey) (bool, string) {
	t, ok := c.topics[tp.topic]
	if !ok {
		return false, "unknown topic"
	}
	switch {
	case t.unclean:
		return false, "unclean.leader.election.enable=true"
	case t.minISR < 2:
		return false, fmt.Sprintf("min.insync.replicas=%d", t.minISR)
	case len(t.partitions) > int(tp.partition) && len(t.partitions[tp.partition].Replicas) < 2:
		return false, "a single replica"
	}
	return true, ""
}

// excused says why the guarantees allow a partition to change what an
// offset holds, or "" when they do not: an unclean election, a loss of the
// partition's committed records (lostCommittedAt), or, on a partition
// that promises nothing past a power loss (promised), a power loss that
// dropped the offset from a replica. Where the partition promises its
// acknowledged writes, a power loss or a wipe of fewer than
// min.insync.replicas replicas changes nothing a reader saw or a producer
// was told (D2, with KIP-966's rules, which the simulated cluster keeps).
func (c *historyChecker) excused(tp tpKey, offset int64) string {
	switch {
	case c.w.checks.unclean[tp]:
		return "the partition had an unclean election"
	case c.lostCommittedAt(tp, offset):
		return "the partition lost committed records"
	}
	if ok, why := c.promised(tp); !ok && c.droppedAt(tp, offset) {
		return fmt.Sprintf("%s and a power loss dropped the offset unsynced", why)
	}
	return ""
}

// droppedAt says a power loss dropped offset from a replica of tp.
func (c *historyChecker) droppedAt(tp tpKey, offset int64) bool {
	for _, r := range c.w.checks.dropped[tp] {
		if r.from <= offset && offset < r.to {
			return true
		}
	}
	return false
}

// lostCommittedAt says the guarantees excuse losing an acknowledged
// acks=all write at offset of tp on a partition that promises it: the
// partition lost committed records (World.stateLost: an unclean election
// or one from the last known ELR after every member lost power, a leader
// lacking committed records, the topic created again), or a cause other
// than a power loss or a wipe dropped the offset from a replica
// (emptyEndFell). Power losses and wipes alone lose nothing acknowledged
// (D2: KIP-966's rules, which the simulated cluster keeps, elect only a
// replica that holds every committed record unless such an election is
// all that is left).
func (c *historyChecker) lostCommittedAt(tp tpKey, offset int64) bool {
	if c.w.stateLossEra[tp] > 0 {
		return true
	}
	for _, r := range c.w.checks.dropped[tp] {
		if r.why != "" && r.from <= offset && offset < r.to {
			return true
		}
	}
	return false
}

// checkSends checks the acknowledged sends against the log view: Q1, Q3,
// Q4, Q11.
func (c *historyChecker) checkSends(final bool) bool {
	w := c.w
	for _, s := range w.hist.sends {
		if s.outcome != outcomeOK {
			continue
		}
		w.stats.InvariantsChecked++
		v, read := c.reads[s.tp][s.offset]
		maxRead, any := c.maxRead[s.tp]
		lost := ""
		switch {
		case read && v != s.value:
			lost = fmt.Sprintf("offset %d holds %q", s.offset, v)
		case !read && any && s.offset <= maxRead:
			lost = fmt.Sprintf("offset %d was never read though polls read up to %d", s.offset, maxRead)
		case !read && final:
			lost = fmt.Sprintf("offset %d was never read, not even by the final read", s.offset)
		}
		if lost == "" || (!read && (w.compactedAway(s.tp, s.offset) || w.deletedBelow(s.tp, s.offset) || w.retainedBelow(s.tp, s.offset))) {
			continue
		}
		if s.acks != -1 {
			w.loss("%s: acks=1 write %q acknowledged at offset %d lost: %s", s.tp, s.value, s.offset, lost)
			continue
		}
		if ok, why := c.promised(s.tp); !ok {
			w.loss("%s: acks=all write %q acknowledged at offset %d lost (%s): %s", s.tp, s.value, s.offset, why, lost)
			continue
		}
		if w.checks.unclean[s.tp] {
			// An election from the last known ELR (every replica that
			// held the committed records shut down uncleanly) chose a
			// replica that lost power: what it lost is lost, as after
			// an unclean election (checkLastKnownELRElection).
			w.loss("%s: acks=all write %q acknowledged at offset %d lost after an election that may lose records: %s", s.tp, s.value, s.offset, lost)
			continue
		}
		if c.lostCommittedAt(s.tp, s.offset) {
			w.loss("%s: acks=all write %q acknowledged at offset %d lost with the partition's committed records: %s", s.tp, s.value, s.offset, lost)
			continue
		}
		check := "Q3"
		switch {
		case read:
			check = "Q11"
		case final && (!any || s.offset > maxRead):
			check = "Q4"
		}
		w.violation(check, fmt.Sprintf("%s: acks=all write %q acknowledged at offset %d by %s at %s is lost: %s",
			s.tp, s.value, s.offset, endpointName(s.process), fmtMs(s.doneMs), lost))
		return false
	}
	return true
}

// checkSendOrder is Q8: among a producer's acknowledged sends to a
// partition that the log view holds, offsets rise in the order sent.
func (c *historyChecker) checkSendOrder() {
	w := c.w
	type key struct {
		process int32
		tp      tpKey
	}
	last := map[key]*sendOp{}
	for _, s := range w.hist.sends {
		if s.outcome != outcomeOK {
			continue
		}
		if v, ok := c.reads[s.tp][s.offset]; !ok || v != s.value {
			continue
		}
		k := key{s.process, s.tp}
		if prev := last[k]; prev != nil && s.offset <= prev.offset {
			if why := c.excused(s.tp, s.offset); why != "" {
				w.loss("%s: %s's send %q got offset %d after %q got %d (%s)", s.tp, endpointName(s.process), s.value, s.offset, prev.value, prev.offset, why)
				last[k] = s
				continue
			}
			if s.resentAfterUnknown || prev.resentAfterUnknown {
				// franz-go's reset sends a value whose attempt may have
				// been appended again, under new sequences: it may be
				// in the log twice, and acknowledged after later values
				// (seed 5500032, 7 nodes, 10 minutes).
				w.loss("%s: %s's send %q got offset %d after %q got %d (one of them was sent again under a new producer epoch after an attempt whose outcome the producer did not know)",
					s.tp, endpointName(s.process), s.value, s.offset, prev.value, prev.offset)
				last[k] = s
				continue
			}
			if s.resentAfterStateLoss || prev.resentAfterStateLoss {
				// The partition took a later batch of the producer's
				// old id or epoch at any sequence, its state of the
				// producer gone (as Kafka's takes an unknown
				// producer's): the value sent again after the reset
				// came after it (seed 11211049 of recreate at 7 nodes:
				// the topic created again between the two).
				w.loss("%s: %s's send %q got offset %d after %q got %d (one of them was sent again under a new producer after the partition's producer state was lost)",
					s.tp, endpointName(s.process), s.value, s.offset, prev.value, prev.offset)
				last[k] = s
				continue
			}
			w.violation("Q8", fmt.Sprintf("%s sent %q to %s after %q, but it got offset %d, not above %d",
				endpointName(s.process), s.value, s.tp, prev.value, s.offset, prev.offset))
			return
		}
		last[k] = s
	}
}

// checkReplicasIdentical is S12: once converged, the replicas of every
// partition hold the same batches.
func (w *World) checkReplicasIdentical() {
	var keys []tpKey
	seen := map[tpKey]bool{}
	for _, n := range w.nodes {
		for _, k := range n.keys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		var ref *replicaHost
		for _, n := range w.nodes {
			h := n.replicas[k]
			if h == nil || h.core == nil {
				continue
			}
			w.stats.InvariantsChecked++
			if ref == nil {
				ref = h
				continue
			}
			// Above the later of their log starts: a DeleteRecords that
			// failed after its leader raised its log start leaves the
			// replicas starting at different offsets (delete_records.go).
			from := max(logStartOf(ref), logStartOf(h))
			if !slices.EqualFunc(batchesFrom(ref.shadow.batches, from), batchesFrom(h.shadow.batches, from), func(a, b shadowBatch) bool {
				return a.base == b.base && a.last == b.last && a.epoch == b.epoch && a.crc == b.crc
			}) {
				w.violation("S12", fmt.Sprintf("%s: the replicas on %s and %s differ after convergence (%d and %d batches)",
					k, ref.n.name(), h.n.name(), len(ref.shadow.batches), len(h.shadow.batches)))
				return
			}
		}
	}
}

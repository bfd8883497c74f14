package sim

import "fmt"

// Q6, read_committed isolation (CORRECTNESS.md §2.2: "Kafka
// read_committed never exposes uncommitted records"): a read_committed
// poll, a consumer's or a copier's, delivers a record a transaction wrote
// only once that transaction ended on the record's partition: when the
// poll's answer arrived, a marker of the transaction's producer id after
// the record was below a leader's high watermark. A leader's last stable
// offset stays below a transaction's first record until its marker is
// appended and replicated (Kafka's LSO is the lowest first offset of the
// transactions that are open or whose marker the high watermark has not
// passed): a fetch that reads past it, or an LSO that passes an open
// transaction, exposes records whose transaction may still abort. Q5 sees
// such a read only when the transaction aborts and its abort marker was
// not listed with the read; Q6 sees it whatever the outcome. The plant
// read-open breaks it.
//
// The check is loose on purpose where the log's history is not linear: a
// marker appended by a leader that was later deposed, or at an offset
// truncated since, still counts (a reader could only have passed it
// through a high watermark that passed it, which S2 answers for).

// markerAppend is a transaction marker a leader appended: its offset, and
// when a leader's high watermark first passed that offset (-1: not yet).
type markerAppend struct {
	offset, committedMs int64
}

// markerAppended notes a marker of producer pid that a leader of tp
// appended at offset.
func (c *txnChecks) markerAppended(tp tpKey, pid, offset int64) {
	if c.markers == nil {
		c.markers = map[tpKey]map[int64][]markerAppend{}
	}
	byPID := c.markers[tp]
	if byPID == nil {
		byPID = map[int64][]markerAppend{}
		c.markers[tp] = byPID
	}
	byPID[pid] = append(byPID[pid], markerAppend{offset: offset, committedMs: -1})
	if c.pendingMarkers == nil {
		c.pendingMarkers = map[tpKey][]pendingMarker{}
	}
	c.pendingMarkers[tp] = append(c.pendingMarkers[tp], pendingMarker{pid: pid, index: len(byPID[pid]) - 1})
}

// pendingMarker is a marker no leader's high watermark has passed yet: its
// producer id and index in markers.
type pendingMarker struct {
	pid   int64
	index int
}

// leaderHighWatermark notes the markers of tp that a leader's high
// watermark hw passes. A marker a deposed leader appended, whose offset
// another leader's log holds something else at, may be taken as passed:
// Q6 is loose there (S2 answers for such logs).
func (c *txnChecks) leaderHighWatermark(tp tpKey, hw int64) {
	pending := c.pendingMarkers[tp]
	if len(pending) == 0 {
		return
	}
	kept := pending[:0]
	for _, p := range pending {
		m := &c.markers[tp][p.pid][p.index]
		if m.offset < hw {
			m.committedMs = c.w.now
			continue
		}
		kept = append(kept, p)
	}
	c.pendingMarkers[tp] = kept
}

// endedBefore says whether a marker of producer pid past offset was below
// a leader of tp's high watermark by atMs.
func (c *txnChecks) endedBefore(tp tpKey, pid, offset, atMs int64) bool {
	for _, m := range c.markers[tp][pid] {
		if m.offset > offset && m.committedMs >= 0 && m.committedMs <= atMs {
			return true
		}
	}
	return false
}

// checkReadCommitted is Q6 over every read_committed poll of the history.
func (c *historyChecker) checkReadCommitted() bool {
	w := c.w
	if w.txn.checks.noReadCommittedCheck {
		return true
	}
	writers := map[tpKey]map[string]*txnOp{}
	for _, t := range w.txn.txns {
		if t.pid < 0 {
			continue
		}
		for _, wr := range t.writes {
			m := writers[wr.tp]
			if m == nil {
				m = map[string]*txnOp{}
				writers[wr.tp] = m
			}
			m[wr.value] = t
		}
	}
	for _, p := range w.hist.polls {
		if !p.committed {
			continue
		}
		for _, r := range p.records {
			t := writers[p.tp][r.value]
			if r.kind != recData || t == nil {
				continue
			}
			w.stats.InvariantsChecked++
			if w.txn.checks.endedBefore(p.tp, t.pid, r.offset, p.atMs) {
				continue
			}
			w.violation("Q6", fmt.Sprintf("%s: a read_committed poll by %s at %s delivered %q at offset %d, written by %s (%s) in transaction %d (producer %d), before any marker of the producer past it",
				p.tp, endpointName(p.process), fmtMs(p.atMs), r.value, r.offset, endpointName(t.process), t.tid, t.seq, t.pid))
			return false
		}
	}
	return true
}

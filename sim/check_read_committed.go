package sim

import "fmt"

// Q6, read_committed isolation (CORRECTNESS.md §2.2: "Kafka
// read_committed never exposes uncommitted records"): a read_committed
// poll, a consumer's or a copier's, delivers a record a transaction wrote
// only once that transaction ended on the record's partition: when the
// poll's answer arrived, a leader of the partition had appended a marker of
// the transaction's producer id after the record. A leader's last stable
// offset stays below a transaction's first record until its marker is
// appended (and replicated): a fetch that reads past it, or an LSO that
// passes an open transaction, exposes records whose transaction may still
// abort. Q5 sees such a read only when the transaction later aborts; Q6
// sees it whatever the outcome. The plant read-open breaks it.
//
// The check is loose on purpose where the log's history is not linear: a
// marker appended by a leader that was later deposed, or at an offset
// truncated since, still counts (a reader could only have passed it
// through a high watermark that passed it, which S2 answers for).

// markerAppend is a transaction marker a leader appended: its offset and
// when.
type markerAppend struct {
	offset, atMs int64
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
	byPID[pid] = append(byPID[pid], markerAppend{offset: offset, atMs: c.w.now})
}

// endedBefore says whether a leader of tp had appended a marker of
// producer pid past offset by atMs.
func (c *txnChecks) endedBefore(tp tpKey, pid, offset, atMs int64) bool {
	for _, m := range c.markers[tp][pid] {
		if m.offset > offset && m.atMs <= atMs {
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

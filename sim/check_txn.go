package sim

import (
	"fmt"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/logstore/internaltopic"
	"gregor/txn"
)

// The transaction and idempotence checkers (CORRECTNESS.md S7, S8, Q2, Q5,
// Q6, Q10, Q12).
//
// Server-side, after every event:
//   - S7: in every replica's log, the batches of a producer id follow each
//     other's sequences within an epoch, a newer epoch starts at 0, and no
//     batch of an older (fenced) epoch follows a newer epoch's;
//   - S8: a leader's last stable offset never passes its high watermark;
//     every marker a leader appends agrees with the coordinator's decision
//     for the producer id and epoch (the latest PrepareCommit or
//     PrepareAbort record a coordinator had acknowledged, or loaded from
//     its partition once its load ended), and no marker is written
//     without one.
//
// Client-side, over the history once the run has read everything back
// (the final read is read_committed):
//   - Q2: a value an idempotent or transactional producer sent is at one
//     offset of its partition at most;
//   - Q5: no read_committed poll delivers a value of an aborted
//     transaction;
//   - Q6: no read_committed poll delivers a value of a transaction before
//     its marker on the partition was below a leader's high watermark
//     (check_read_committed.go);
//   - Q10: a committed transaction is delivered whole by the final read; a
//     transaction whose outcome the client does not know is delivered
//     whole or not at all;
//   - Q12: a copier (consume-transform-produce) delivers the copy of each
//     input record once at most.
//
// Q5, Q10 and Q12 excuse only what the guarantees allow (txnExcused): a
// loss of committed records of the written partition, or of the
// coordinator's __transaction_state partition, since the transaction
// began (an unclean election or one from the last known ELR, a leader
// lacking committed records); on a partition without the D1 promise, a
// power loss that dropped offsets at or past the write too. A power loss
// or wipe of fewer than min.insync.replicas replicas excuses nothing. What
// is excused is reported as a loss.
type txnChecks struct {
	w *World
	// decisions is the latest decision (true: commit) for each producer id
	// and epoch.
	decisions map[pidEpoch]bool
	// states is each transactional id's latest record seen acknowledged.
	states map[string]txnRecordState
	seqs   map[*replicaHost]*seqScan
	codecs *logstore.Codecs
	// noMarkerCheck turns the marker check off (a test shows the client
	// side catches the wrong-marker plant alone).
	noMarkerCheck bool
	// markers are the transaction markers leaders appended, by partition
	// and producer id (Q6, check_read_committed.go).
	markers        map[tpKey]map[int64][]markerAppend
	pendingMarkers map[tpKey][]pendingMarker
	// noReadCommittedCheck turns Q6 off (a test shows it alone finds the
	// read-open plant in some runs).
	noReadCommittedCheck bool
}

type pidEpoch struct {
	pid   int64
	epoch int16
}

type txnRecordState struct {
	pid   int64
	epoch int16
	state txn.State
}

// seqScan is how far S7 has checked a replica's log, and what it knows of
// each producer there.
type seqScan struct {
	idx   int
	chain uint64
	start int64
	last  map[int64]seqPos
}

type seqPos struct {
	epoch   int16
	lastSeq int32
	// end is the offset after the producer's batch.
	end int64
}

// txnWorld is the world's transaction side: the nodes' transaction state
// (by node id - 1), the checks, the transactions of the history and what
// the links delivered of transaction requests.
type txnWorld struct {
	nodes  []*nodeTxn
	checks *txnChecks
	txns   []*txnOp
	// delivered is the newest transaction request each link delivered
	// (txnEnvelope).
	delivered map[linkKey]envelopeSeq
	// reissued is when a coordinator first handed out again a producer id
	// and epoch a transaction of the same transactional id had already
	// begun under (noteEpochIssued).
	reissued map[txnEpoch]int64
}

// txnEpoch is a transactional id's producer id and epoch.
type txnEpoch struct {
	tid string
	pidEpoch
}

// noteEpochIssued takes an InitProducerId answer of tid's coordinator at
// nowMs: an epoch a transaction already began under is handed out again
// (which a coordinator that kept its records never does, as it bumps the
// epoch).
func (tw *txnWorld) noteEpochIssued(tid string, pid int64, epoch int16, nowMs int64) {
	k := txnEpoch{tid, pidEpoch{pid, epoch}}
	if _, ok := tw.reissued[k]; ok {
		return
	}
	for _, o := range tw.txns {
		if o.tid == tid && o.pid == pid && o.epoch == epoch && o.invokeMs <= nowMs {
			if tw.reissued == nil {
				tw.reissued = map[txnEpoch]int64{}
			}
			tw.reissued[k] = nowMs
			return
		}
	}
}

func newTxnWorld(w *World, nodes int) *txnWorld {
	return &txnWorld{nodes: make([]*nodeTxn, nodes), delivered: map[linkKey]envelopeSeq{}, checks: &txnChecks{w: w, decisions: map[pidEpoch]bool{},
		states: map[string]txnRecordState{}, seqs: map[*replicaHost]*seqScan{}}}
}

// decided takes the records of an acknowledged coordinator append.
func (c *txnChecks) decided(n *node, records []internaltopic.Record) {
	for _, r := range records {
		c.record(n, r.Key, r.Value, true)
	}
}

// loadedRecord is one __transaction_state record a coordinator's load read.
type loadedRecord struct {
	key, value []byte
}

// loadedLog parses what one read of a coordinator's load took from its
// partition; loaded takes the records once the load ends.
func (c *txnChecks) loadedLog(p []byte) []loadedRecord {
	if c.codecs == nil {
		c.codecs = logstore.NewCodecs()
	}
	var out []loadedRecord
	for len(p) > 0 {
		size, err := logstore.BatchSize(p)
		if err != nil || size > len(p) {
			break
		}
		b, err := logstore.ParseBatch(p[:size])
		p = p[size:]
		if err != nil || b.Attributes&0x20 != 0 {
			continue
		}
		_ = c.codecs.EachRecord(&b, func(_ int64, r *kmsg.Record) {
			out = append(out, loadedRecord{key: slices.Clone(r.Key), value: slices.Clone(r.Value)})
		})
	}
	return out
}

// loaded takes the records a coordinator loaded from its partition, once
// its load ended: the decisions in them are the coordinator's. Not before:
// a load replays the log from its start, one read at a time, and a read
// that ends before the log end holds older decisions of a producer id and
// epoch (reused by the transactions before KIP-890 part 2) than the one
// the coordinator before it acknowledged and is still writing the markers
// of (seed 6100223).
func (c *txnChecks) loaded(n *node, recs []loadedRecord) {
	for _, r := range recs {
		c.record(n, r.key, r.value, false)
	}
}

// record takes one __transaction_state record: a decision, and for the
// timeline a transaction the coordinator aborted on its own (a timeout, or
// a new producer of the id fencing the old).
func (c *txnChecks) record(n *node, key, value []byte, live bool) {
	var k kmsg.TxnMetadataKey
	if len(key) < 2 || k.ReadFrom(key) != nil {
		return
	}
	if value == nil {
		delete(c.states, k.TransactionalID)
		return
	}
	var v kmsg.TxnMetadataValue
	if v.ReadFrom(value) != nil {
		return
	}
	st := txn.State(v.State)
	prev, had := c.states[k.TransactionalID]
	c.states[k.TransactionalID] = txnRecordState{pid: v.ProducerID, epoch: v.ProducerEpoch, state: st}
	if st != txn.PrepareCommit && st != txn.PrepareAbort {
		return
	}
	c.decisions[pidEpoch{v.ProducerID, v.ProducerEpoch}] = st == txn.PrepareCommit
	if live && st == txn.PrepareAbort && had && prev.state == txn.Ongoing && prev.pid == v.ProducerID && v.ProducerEpoch > prev.epoch {
		if v.ClientTransactionVersion >= 2 {
			// KIP-890 part 2: every end bumps the epoch, the client's own
			// abort as much as a timeout's or a fence's.
			c.w.timelinef("txn: %s aborts %s's transaction (producer %d, epoch %d → %d)",
				n.name(), k.TransactionalID, v.ProducerID, prev.epoch, v.ProducerEpoch)
			return
		}
		c.w.timelinef("txn: %s aborts %s's open transaction and fences producer %d (epoch %d → %d)",
			n.name(), k.TransactionalID, v.ProducerID, prev.epoch, v.ProducerEpoch)
	}
}

// leaderAppended checks the markers among batches a leader appended (S8).
// A deposed leader's are not checked: a coordinator cut off with it (seed
// 122241) still retries the markers of a transaction its successor
// finished long ago, whose producer id and epoch later transactions reuse
// (before KIP-890 part 2), and the deposed leader appends them to a log
// its followers have left; they are truncated when it follows again, and
// S2 answers for anything of it that a reader could see.
func (c *txnChecks) leaderAppended(h *replicaHost, batches [][]byte, bases []int64) {
	w := c.w
	deposed := h.core != nil && h.core.LeaderEpoch() < w.checks.newestEpoch[h.key]
	for i, b := range batches {
		if len(b) < logstore.BatchHeaderBytes || b[22]&0x20 == 0 {
			continue
		}
		info := logstore.ReadProducerBatchInfo(b)
		offset := int64(-1)
		if i < len(bases) {
			offset = bases[i]
		}
		c.markerAppended(h.key, info.ProducerID, offset)
		if deposed {
			continue
		}
		kind := map[bool]string{true: "commit", false: "abort"}
		w.rec.mark(w.now, kind[info.Commit], &h.key, "%s marker of producer %d epoch %d at %d", kind[info.Commit], info.ProducerID, info.ProducerEpoch, offset)
		w.stats.InvariantsChecked++
		d, ok := c.decisions[pidEpoch{info.ProducerID, info.ProducerEpoch}]
		switch {
		case c.noMarkerCheck:
		case !ok:
			w.violation("S8", fmt.Sprintf("%s %s: %s marker of producer %d epoch %d at offset %d, for which no coordinator decided",
				h.n.name(), h.key, kind[info.Commit], info.ProducerID, info.ProducerEpoch, offset))
			return
		case d != info.Commit:
			w.violation("S8", fmt.Sprintf("%s %s: %s marker of producer %d epoch %d at offset %d, but its coordinator decided to %s",
				h.n.name(), h.key, kind[info.Commit], info.ProducerID, info.ProducerEpoch, offset, kind[d]))
			return
		}
	}
}

// replica checks what an event may have changed in a replica: S8's last
// stable offset and S7 over the batches it gained.
func (c *txnChecks) replica(n *node, h *replicaHost) {
	w := c.w
	core := h.core
	if core.IsLeader() {
		if lso, hw := core.LastStableOffset(), core.HighWatermark(); lso > hw {
			w.violation("S8", fmt.Sprintf("%s %s: last stable offset %d past the high watermark %d", n.name(), h.key, lso, hw))
			return
		}
		c.leaderHighWatermark(h.key, core.HighWatermark())
	}
	c.scanSequences(h)
}

// scanSequences is S7 over the replica's batches not yet checked; a log
// that changed below them (truncated, rebuilt, its start raised) is
// checked again from its start.
func (c *txnChecks) scanSequences(h *replicaHost) {
	s := &h.shadow
	st := c.seqs[h]
	if st == nil || st.start != s.start || st.idx > len(s.batches) || st.idx > 0 && s.batches[st.idx-1].chain != st.chain {
		st = &seqScan{start: s.start, last: map[int64]seqPos{}}
		c.seqs[h] = st
	}
	for ; st.idx < len(s.batches); st.idx++ {
		b := s.batches[st.idx]
		if b.pid < 0 || b.seq < 0 {
			continue
		}
		c.w.stats.InvariantsChecked++
		last := addSeq(b.seq, int32(b.last-b.base))
		if prev, ok := st.last[b.pid]; ok && !c.sequenceBreakExcused(h, prev, b) {
			switch {
			case b.pepoch == prev.epoch && !(b.seq == prev.lastSeq+1 || prev.lastSeq == math.MaxInt32 && b.seq == 0):
				c.w.violation("S7", fmt.Sprintf("%s %s: producer %d epoch %d has sequence %d at offset %d after sequence %d",
					h.n.name(), h.key, b.pid, b.pepoch, b.seq, b.base, prev.lastSeq))
				return
			case b.pepoch > prev.epoch && b.seq != 0:
				c.w.violation("S7", fmt.Sprintf("%s %s: producer %d starts epoch %d at sequence %d (offset %d), not 0",
					h.n.name(), h.key, b.pid, b.pepoch, b.seq, b.base))
				return
			case b.pepoch < prev.epoch:
				c.w.violation("S7", fmt.Sprintf("%s %s: producer %d has a batch of epoch %d at offset %d after epoch %d: a fenced epoch's batch appended",
					h.n.name(), h.key, b.pid, b.pepoch, b.base, prev.epoch))
				return
			}
		}
		st.last[b.pid] = seqPos{epoch: b.pepoch, lastSeq: last, end: b.last + 1}
	}
	if st.idx > 0 {
		st.chain = s.batches[st.idx-1].chain
	}
}

// sequenceBreakExcused says S7 may not hold between a producer's batch
// (prev) and its next one in a replica's log (b): the partition had an
// unclean election, or a power loss dropped offsets from one of its
// replicas between them, taking batches of the producer that the client
// does not know were lost (it goes on from its next sequence, and a
// partition that no longer knows the producer accepts it, as Kafka's does).
func (c *txnChecks) sequenceBreakExcused(h *replicaHost, prev seqPos, b shadowBatch) bool {
	if c.w.checks.unclean[h.key] {
		return true
	}
	for _, r := range c.w.checks.dropped[h.key] {
		if r.to > prev.end && r.from <= b.base {
			return true
		}
	}
	return false
}

// addSeq adds delta to a sequence number, wrapping past math.MaxInt32 to
// 0 as producers do.
func addSeq(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// txnSettled says why a leader's transactions have not settled after
// healing (its last stable offset is below its high watermark: a
// transaction is open or its marker not replicated), or "".
func txnSettled(h *replicaHost) string {
	if lso, hw := h.core.LastStableOffset(), h.core.HighWatermark(); lso != hw {
		return fmt.Sprintf("%s: last stable offset %d below the high watermark %d (a transaction is open)", h.key, lso, hw)
	}
	return ""
}

// txnView is what the polls show of the transactional and idempotent
// values: where each value is in its partition's log, and which values a
// read_committed poll delivered.
type txnView struct {
	at        map[tpKey]map[string][]int64
	delivered map[tpKey]map[string]int64
}

func (c *historyChecker) buildTxnView() *txnView {
	v := &txnView{at: map[tpKey]map[string][]int64{}, delivered: map[tpKey]map[string]int64{}}
	for _, p := range c.w.hist.polls {
		at := v.at[p.tp]
		if at == nil {
			at = map[string][]int64{}
			v.at[p.tp] = at
		}
		for _, r := range p.records {
			if r.kind == recControl {
				continue
			}
			if !slices.Contains(at[r.value], r.offset) {
				at[r.value] = append(at[r.value], r.offset)
			}
			if p.committed && r.kind == recData {
				d := v.delivered[p.tp]
				if d == nil {
					d = map[string]int64{}
					v.delivered[p.tp] = d
				}
				d[r.value] = r.offset
			}
		}
	}
	return v
}

// excusedAny says why the guarantees allow a change at one of offsets of
// tp, or "".
func (c *historyChecker) excusedAny(tp tpKey, offsets ...int64) string {
	for _, o := range offsets {
		if why := c.excused(tp, o); why != "" {
			return why
		}
	}
	if c.w.checks.unclean[tp] {
		return "the partition had an unclean election"
	}
	return ""
}

// txnExcused says why the guarantees allow transaction t's write at
// offsets of tp to be delivered when it should not be, or not when it
// should; "" when they do not.
//
// A partition that promises acknowledged acks=all writes (D1, D2:
// min.insync.replicas ≥ 2 on more than one replica, which KIP-966's
// rules keep through power losses and wipes of fewer replicas than that)
// keeps the transaction's records and markers once acknowledged: only a
// loss of its committed records (World.stateLost: an unclean election or
// one from the last known ELR, a leader lacking committed records, a log
// end fallen over a compacted stretch, the topic created again) that
// struck once the transaction had begun excuses it. Records appended
// after such a loss are on the log the partition went on with.
//
// Elsewhere a power loss may drop acknowledged records: one that dropped
// an offset of the write, or offsets past it (its marker, which a later
// marker of the producer may then stand in for), excuses it too, as an
// unclean election does.
func (c *historyChecker) txnExcused(t *txnOp, tp tpKey, offsets ...int64) string {
	if ok, why := c.promised(tp); !ok {
		if why := c.excusedAny(tp, offsets...); why != "" {
			return why
		}
		for _, r := range c.w.checks.dropped[tp] {
			for _, o := range offsets {
				if o >= 0 && r.to > o {
					return fmt.Sprintf("%s and %s dropped [%d, %d) from n%d, where its marker may have been", why, r.cause(), r.from, r.to, r.node)
				}
			}
		}
		return ""
	}
	return c.committedLostSince(tp, t.invokeMs)
}

// committedLostSince says how tp lost committed records at or after
// sinceMs (World.stateLost), or "".
func (c *historyChecker) committedLostSince(tp tpKey, sinceMs int64) string {
	w := c.w
	if w.stateLossEra[tp] > 0 && w.stateLostMs[tp] >= sinceMs {
		return fmt.Sprintf("%s lost committed records at %s", tp, fmtMs(w.stateLostMs[tp]))
	}
	return ""
}

// stateLost says why transaction t's coordinator may have lost its
// records, or "": its partition of __transaction_state lost committed
// records once t's producer epoch was in use, if the coordinator handed
// that epoch out again (as txnExcused), or, when that partition promises
// nothing (one replica, or min.insync.replicas 1), lost any records.
//
// The epoch counts, not t alone: a coordinator that lost the record of an
// epoch it handed out hands the same producer id and epoch out again, and
// the partitions still hold the sequences an earlier transaction wrote
// under it (perhaps still open). A later transaction's Produce at those
// sequences is then answered as a duplicate of the earlier batch (as
// Kafka's partition leaders answer it), and its commit marker commits
// the earlier transaction's records instead of its own.
func (c *historyChecker) stateLost(t *txnOp) string {
	k := txnStateKey(t.tid)
	if ok, _ := c.promised(k); !ok {
		if c.w.lossEra[k] > 0 {
			return "its coordinator's partition lost records"
		}
		return ""
	}
	if why := c.committedLostSince(k, c.epochSince(t)); why != "" {
		return "its coordinator's partition " + why
	}
	return ""
}

// epochSince is when t's producer id and epoch were first in use when
// its coordinator handed them out again before t began
// (txnWorld.reissued): the earliest start of a transaction of t's
// transactional id under them. Otherwise it is t's start.
func (c *historyChecker) epochSince(t *txnOp) int64 {
	since := t.invokeMs
	at, ok := c.w.txn.reissued[txnEpoch{t.tid, pidEpoch{t.pid, t.epoch}}]
	if !ok || at > t.invokeMs {
		return since
	}
	for _, o := range c.w.txn.txns {
		if o.tid == t.tid && o.pid == t.pid && o.epoch == t.epoch && o.invokeMs < since {
			since = o.invokeMs
		}
	}
	return since
}

// checkTxns runs the client-side transaction and idempotence checkers.
func (c *historyChecker) checkTxns(final bool) bool {
	w := c.w
	v := c.buildTxnView()
	dup := func(tp tpKey, value, who string) bool {
		offs := v.at[tp][value]
		if len(offs) <= 1 {
			return true
		}
		w.stats.InvariantsChecked++
		if why := c.excusedAny(tp, offs...); why != "" {
			w.loss("%s: %s's value %q is at offsets %v (%s)", tp, who, value, offs, why)
			return true
		}
		w.violation("Q2", fmt.Sprintf("%s: %s's value %q is at offsets %v: a duplicate with idempotence on", tp, who, value, offs))
		return false
	}
	for _, s := range w.hist.sends {
		if s.idempotent && s.resentAfterUnknown {
			// Sent again under a new epoch after an attempt of unknown
			// outcome: franz-go's reset may append it twice.
			if offs := v.at[s.tp][s.value]; len(offs) > 1 {
				w.loss("%s: idempotent producer %s's value %q is at offsets %v: sent again under a new producer epoch or id after an attempt whose outcome it did not know (franz-go's reset)",
					s.tp, endpointName(s.process), s.value, offs)
			}
			continue
		}
		if s.idempotent && !dup(s.tp, s.value, "idempotent producer "+endpointName(s.process)) {
			return false
		}
	}
	for _, t := range w.txn.txns {
		for _, wr := range t.writes {
			if !dup(wr.tp, wr.value, fmt.Sprintf("%s (%s)", endpointName(t.process), t.tid)) {
				return false
			}
		}
	}
	for _, t := range w.txn.txns {
		if !c.checkTxn(t, v, final) {
			return false
		}
	}
	return c.checkCopies(v)
}

// checkTxn is Q5 and Q10 for one transaction.
func (c *historyChecker) checkTxn(t *txnOp, v *txnView, final bool) bool {
	w := c.w
	lostState := c.stateLost(t)
	var seen, owed []*sendOp
	for _, wr := range t.writes {
		w.stats.InvariantsChecked++
		if off, ok := v.delivered[wr.tp][wr.value]; ok {
			if t.outcome == outcomeFail {
				why := c.txnExcused(t, wr.tp, off, wr.offset)
				if lostState != "" {
					why = lostState
				}
				if why != "" {
					w.loss("%s: aborted transaction %d of %s delivered %q at %d (%s)", wr.tp, t.seq, t.tid, wr.value, off, why)
					continue
				}
				w.violation("Q5", fmt.Sprintf("%s: a read_committed poll delivered %q at offset %d, written by %s (%s) in transaction %d, which aborted",
					wr.tp, wr.value, off, endpointName(t.process), t.tid, t.seq))
				return false
			}
			seen = append(seen, wr)
			continue
		}
		if wr.offset < 0 || w.compactedAway(wr.tp, wr.offset) || w.deletedBelow(wr.tp, wr.offset) || w.retainedBelow(wr.tp, wr.offset) {
			// Never appended, compaction kept a later record of its key
			// instead (C1), or DeleteRecords or retention removed it.
			continue
		}
		if w.recreatedGone(wr) {
			if t.outcome == outcomeOK && final {
				w.loss("%s: committed transaction %d of %s: %q at %d never delivered (its topic id was deleted)", wr.tp, t.seq, t.tid, wr.value, wr.offset)
			}
			continue
		}
		if ok, why := c.promised(wr.tp); !ok {
			if t.outcome == outcomeOK && final {
				w.loss("%s: committed transaction %d of %s: %q at %d never delivered (%s)", wr.tp, t.seq, t.tid, wr.value, wr.offset, why)
			}
			continue
		}
		why := c.txnExcused(t, wr.tp, wr.offset)
		if lostState != "" {
			why = lostState
		}
		if why != "" {
			if t.outcome == outcomeOK && final {
				w.loss("%s: committed transaction %d of %s: %q at %d never delivered (%s)", wr.tp, t.seq, t.tid, wr.value, wr.offset, why)
			}
			continue
		}
		owed = append(owed, wr)
	}
	if !final || len(owed) == 0 {
		return true
	}
	switch {
	case t.outcome == outcomeOK:
		w.violation("Q10", fmt.Sprintf("committed transaction %d of %s (%s, producer %d epoch %d) delivered %d of its %d writes: %q at %s@%d never delivered",
			t.seq, endpointName(t.process), t.tid, t.pid, t.epoch, len(seen), len(t.writes), owed[0].value, owed[0].tp, owed[0].offset))
		return false
	case t.outcome == outcomeInfo && len(seen) > 0:
		w.violation("Q10", fmt.Sprintf("transaction %d of %s (%s, producer %d epoch %d, outcome unknown) is torn: %q at %s@%d delivered, %q at %s@%d not",
			t.seq, endpointName(t.process), t.tid, t.pid, t.epoch, seen[0].value, seen[0].tp, v.delivered[seen[0].tp][seen[0].value],
			owed[0].value, owed[0].tp, owed[0].offset))
		return false
	}
	return true
}

// checkCopies is Q12: the copy of an input record by one group's copier
// is delivered once at most, unless the copier's group lost committed
// offsets (a loss of its __consumer_offsets partition's committed records,
// World.lostCommitted), the first copy's transaction's coordinator lost
// its state (stateLost, as Q10 excuses that transaction) or the copy's
// partition lost records (txnExcused, since the first copy's transaction
// began).
func (c *historyChecker) checkCopies(v *txnView) bool {
	w := c.w
	type source struct {
		group  string
		tp     tpKey
		offset int64
	}
	first := map[source]*sendOp{}
	firstTxn := map[source]*txnOp{}
	for _, t := range w.txn.txns {
		for i, wr := range t.writes {
			if i >= len(t.sources) {
				break
			}
			off, ok := v.delivered[wr.tp][wr.value]
			if !ok {
				continue
			}
			src := source{t.group, t.sources[i].tp, t.sources[i].offset}
			w.stats.InvariantsChecked++
			prev := first[src]
			if prev == nil {
				first[src], firstTxn[src] = wr, t
				continue
			}
			prevOff := v.delivered[prev.tp][prev.value]
			if w.lostCommitted(offsetsKey(t.group)) {
				w.loss("%s@%d copied twice (%q and %q): the group %s lost committed offsets", src.tp, src.offset, prev.value, wr.value, t.group)
				continue
			}
			if why := c.stateLost(firstTxn[src]); why != "" {
				// The coordinator's decision for the first copy's
				// transaction may have been lost: its copier saw it fail
				// and copied again, while the next coordinator committed
				// it (Q10 excuses that transaction the same way).
				w.loss("%s@%d copied twice (%q and %q): transaction %d of %s: %s", src.tp, src.offset, prev.value, wr.value,
					firstTxn[src].seq, firstTxn[src].tid, why)
				continue
			}
			if why := c.txnExcused(firstTxn[src], wr.tp, off, prevOff); why != "" {
				w.loss("%s@%d copied twice (%q and %q): %s", src.tp, src.offset, prev.value, wr.value, why)
				continue
			}
			w.violation("Q12", fmt.Sprintf("%s@%d was copied twice: %q at %s@%d and %q at %s@%d both delivered",
				src.tp, src.offset, prev.value, prev.tp, prevOff, wr.value, wr.tp, off))
			return false
		}
	}
	return true
}

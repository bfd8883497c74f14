package sim

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/cluster/quorum"
)

// serverChecks are the white-box invariants of CORRECTNESS.md §2.4,
// checked after every event of a node (and, for the metadata log, at every
// committed batch):
//
//   - S1: at most one leader per partition leader epoch and per raft term;
//     a node never goes back to an older leader epoch or term;
//   - S2: a batch once below a leader's high watermark is in every later
//     leader's log, identical (the hash of the log up to it matches);
//   - S3: a leader's high watermark never passes the log end offset of an
//     ISR member, never decreases within its epoch, and advances only while
//     the ISR holds min.insync.replicas members;
//   - S4: two replicas holding the same batch (base offset and leader
//     epoch) hold the same log up to it;
//   - S5: a new leader comes from the ISR, unless its topic allows unclean
//     elections;
//   - S9: every node applies the same metadata batch at each offset; no
//     node leads a quorum epoch while an earlier epoch's leader says no
//     other node can (check_hold.go).
//
// Data a power loss or a wipe dropped (CORRECTNESS.md D2: Kafka
// acknowledges before fsync) excuses S3 for the ISR member that lost it,
// until the controller takes that member out of the ISR. It excuses S2
// only on a partition that promises nothing past a power loss
// (min.insync.replicas 1, or one replica): elsewhere KIP-966's rules,
// which the simulated cluster keeps, lose committed records only through
// an election that may (an unclean one, or one from the last known ELR
// after every member lost power: lossyElection) or a cause other than a
// power loss (emptyEndFell). The loss is reported. Topics with unclean
// elections are D4: their losses are reported, not violations.
type serverChecks struct {
	w           *World
	raftLeaders map[uint64]int32
	raftTerms   map[int32]uint64
	// raftHolds is, per quorum epoch, until when its leader said no other
	// node could lead (check_hold.go).
	raftHolds    map[uint64]raftHold
	metaBatches  map[int64]uint64
	metaApplied  int64
	epochLeaders map[epochKey]int32
	// newestEpoch is the newest leader epoch a leader of each partition
	// has held: a leader below it is deposed and does not know it yet.
	newestEpoch map[tpKey]int32
	// imageEpoch is each partition's leader epoch in the newest committed
	// metadata: a leader below it has been replaced, known or not.
	imageEpoch    map[tpKey]int32
	replicaEpochs map[nodeTP]int32
	leaderHW      map[nodeEpoch]int64
	chains        map[batchKey]uint64
	committed     map[tpKey]*committedPrefix
	dropped       map[tpKey][]offsetRange
	// truncated is what replicas truncated to agree with their leaders.
	truncated map[tpKey][]offsetRange
	// unclean marks the partitions that had an unclean election.
	unclean map[tpKey]bool
	// lossyElection is, for each partition, the leader epoch of its latest
	// election that may have lost committed records (an unclean one, or
	// one from the last known ELR after power losses).
	lossyElection map[tpKey]int32
	// lowestMinISR is the lowest min.insync.replicas each topic had set
	// (the operator changes it, faults_operator.go): the guarantees of a
	// write are those of the setting it was acknowledged under.
	lowestMinISR map[string]int
	// lostPowerMs is when each node last lost power, joinedISRMs when it
	// last joined each partition's ISR: a replica that lost power since
	// may have lost committed records, and may lead only from the ISR
	// (checkElection).
	lostPowerMs map[int32]int64
	joinedISRMs map[nodeTP]int64
	// wipedMs is when each node's data directory was last wiped (also a
	// power loss for lostPowerMs; data_wipe.go).
	wipedMs map[int32]int64
	// registeredMs is when each broker's registration was last written: a
	// registration older than the broker's power loss is its dead
	// process's, which must register again (uncleanly) before it serves.
	registeredMs map[int32]int64
	// noElectionCheck turns S5 off (a test shows the other checkers
	// catch the wipe-keeps-marker plant alone).
	noElectionCheck bool
}

type epochKey struct {
	tp    tpKey
	epoch int32
}

type nodeTP struct {
	node int32
	tp   tpKey
}

type nodeEpoch struct {
	node  int32
	tp    tpKey
	epoch int32
}

type batchKey struct {
	tp         tpKey
	start      int64
	base, last int64
	epoch      int32
}

// committedPrefix is the longest prefix of a partition below any leader's
// high watermark: where it ends, the hash of the log up to there, the
// leader epoch that committed it, and the log start the hash counts from.
type committedPrefix struct {
	end   int64
	chain uint64
	epoch int32
	start int64
}

type offsetRange struct {
	node     int32
	from, to int64
	// why the offsets went, when not a power loss or a wipe of the
	// node's data directory; wiped says the latter.
	why   string
	wiped bool
}

// cause says what dropped the range.
func (r offsetRange) cause() string {
	if r.why != "" {
		return r.why
	}
	if r.wiped {
		return "the node's data directory was wiped"
	}
	return "a power loss dropped them"
}

func newServerChecks(w *World) *serverChecks {
	return &serverChecks{w: w, raftLeaders: map[uint64]int32{}, raftTerms: map[int32]uint64{}, metaBatches: map[int64]uint64{},
		epochLeaders: map[epochKey]int32{}, newestEpoch: map[tpKey]int32{}, imageEpoch: map[tpKey]int32{}, replicaEpochs: map[nodeTP]int32{}, leaderHW: map[nodeEpoch]int64{},
		chains: map[batchKey]uint64{}, committed: map[tpKey]*committedPrefix{}, dropped: map[tpKey][]offsetRange{}, truncated: map[tpKey][]offsetRange{}, unclean: map[tpKey]bool{}, lossyElection: map[tpKey]int32{},
		lowestMinISR: map[string]int{},
		lostPowerMs:  map[int32]int64{}, wipedMs: map[int32]int64{}, joinedISRMs: map[nodeTP]int64{}, registeredMs: map[int32]int64{}}
}

// raftLeadership checks S1 for the metadata quorum.
func (c *serverChecks) raftLeadership(n *node, l quorum.Leadership) {
	c.w.stats.InvariantsChecked++
	if l.LeaderEpoch < c.raftTerms[n.id] {
		c.w.violation("S1", fmt.Sprintf("%s: quorum epoch went back from %d to %d", n.name(), c.raftTerms[n.id], l.LeaderEpoch))
		return
	}
	c.raftTerms[n.id] = l.LeaderEpoch
	if l.LeaderID < 0 {
		return
	}
	prev, ok := c.raftLeaders[l.LeaderEpoch]
	if ok && prev != l.LeaderID {
		c.w.violation("S1", fmt.Sprintf("quorum epoch %d has two leaders: %d and %d", l.LeaderEpoch, prev, l.LeaderID))
		return
	}
	if !ok {
		c.checkHolds(l)
	}
	c.raftLeaders[l.LeaderEpoch] = l.LeaderID
}

func (c *serverChecks) snapshotApplied(n *node, s *quorum.SnapshotToApply) {
	c.w.tracef("%s: metadata snapshot at offset %d (image epoch %d) applied", n.name(), s.Offset, s.Batch.Epoch)
}

// batchCommitted checks S9 for a committed metadata batch and, the first
// time a batch is applied anywhere, S5 and the timeline.
func (c *serverChecks) batchCommitted(n *node, b quorum.CommittedBatch, old, next *cluster.MetadataImage) {
	w := c.w
	w.stats.InvariantsChecked++
	h := fnv.New64a()
	h.Write(cluster.AppendMetadataBatch(nil, b.Batch))
	sum := h.Sum64()
	if prev, ok := c.metaBatches[b.Offset]; ok {
		if prev != sum {
			w.violation("S9", fmt.Sprintf("%s applied a different metadata batch at offset %d than another node", n.name(), b.Offset))
		}
		return
	}
	c.metaBatches[b.Offset] = sum
	if b.Offset <= c.metaApplied {
		return
	}
	c.metaApplied = b.Offset
	for _, rec := range b.Batch.Records {
		c.recordCommitted(rec, old, next)
	}
}

// recordCommitted checks S5 and tells the timeline about one record
// committed for the first time.
func (c *serverChecks) recordCommitted(rec cluster.MetadataRecord, old, next *cluster.MetadataImage) {
	w := c.w
	switch r := rec.(type) {
	case cluster.TopicRecord:
		w.timelinef("metadata: topic %s created", r.Name)
	case cluster.PartitionRecord:
		if t, ok := next.TopicByID(r.TopicID); ok {
			w.tracef("metadata: %s/%d replicas %v leader %d", t.Name, r.Partition, r.Replicas, r.Leader)
			for _, b := range r.ISR {
				if c.registeredMs[b] >= c.lostPowerMs[b] {
					// Not a dead process's registration.
					c.joinedISRMs[nodeTP{b, tpKey{t.Name, r.Partition}}] = w.now
				}
			}
		}
	case cluster.ConfigRecord:
		if r.Name == "min.insync.replicas" {
			c.lowerMinISR(r, next)
		}
	case cluster.RegisterBrokerRecord:
		w.timelinef("metadata: broker %d registered (broker epoch %d)", r.BrokerID, r.BrokerEpoch)
		c.registeredMs[r.BrokerID] = w.now
	case cluster.BrokerRegistrationChangeRecord:
		switch r.Fenced {
		case cluster.FenceBroker:
			w.timelinef("metadata: broker %d fenced", r.BrokerID)
			w.checkFencedAfterLease(r)
		case cluster.UnfenceBroker:
			w.timelinef("metadata: broker %d unfenced", r.BrokerID)
		}
	case cluster.PartitionChangeRecord:
		t, ok := next.TopicByID(r.TopicID)
		ot, ook := old.TopicByID(r.TopicID)
		if !ok || !ook || int(r.Partition) >= len(t.Partitions) || int(r.Partition) >= len(ot.Partitions) {
			return
		}
		before, after := ot.Partitions[r.Partition], t.Partitions[r.Partition]
		tp := tpKey{t.Name, r.Partition}
		c.imageEpoch[tp] = max(c.imageEpoch[tp], after.LeaderEpoch)
		if before.Reassigning() && !after.Reassigning() {
			w.stats.ReassignmentsEnded++
			w.timelinef("metadata: %s reassignment ends: replicas %v → %v", tp, before.Replicas, after.Replicas)
		}
		if after.Leader != before.Leader || after.LeaderEpoch != before.LeaderEpoch {
			w.stats.LeaderChanges++
			w.timelinef("metadata: %s leader %d → %d (leader epoch %d), ISR %v", tp, before.Leader, after.Leader, after.LeaderEpoch, after.ISR)
			w.rec.mark(w.now, "election", &tp, "leader %d → %d (epoch %d), ISR %v", before.Leader, after.Leader, after.LeaderEpoch, after.ISR)
			c.checkElection(tp, t, before, after, next)
		} else if !slices.Equal(after.ISR, before.ISR) {
			w.stats.ISRChanges++
			w.timelinef("metadata: %s ISR %v → %v", tp, before.ISR, after.ISR)
			w.rec.mark(w.now, "isr", &tp, "ISR %v → %v", before.ISR, after.ISR)
		}
		// After the election check: an election that puts its leader
		// into the ISR does not clear what it lost before; nor does a
		// join of a registration older than the broker's power loss
		// (its dead process's).
		for _, b := range after.ISR {
			if !slices.Contains(before.ISR, b) && c.registeredMs[b] >= c.lostPowerMs[b] {
				c.joinedISRMs[nodeTP{b, tp}] = w.now
			}
		}
	}
}

// checkElection is S5: a new leader from the ISR it was elected from (or
// that the change electing it left, when it completed a reassignment that
// removed the old leader), or from the eligible leader replicas (KIP-966) when that ISR empties, and
// then not one that lost power since it last joined the ISR and registered
// again since (a registration from before the power loss is its dead
// process's: the next registers uncleanly, leaving the ELR, before it
// serves).
func (c *serverChecks) checkElection(tp tpKey, t *cluster.TopicImage, before, after cluster.PartitionImage, img *cluster.MetadataImage) {
	w := c.w
	w.stats.InvariantsChecked++
	if after.Leader < 0 || after.Leader == before.Leader || slices.Contains(before.ISR, after.Leader) || c.noElectionCheck {
		return
	}
	if before.Reassigning() && !after.Reassigning() && !slices.Contains(after.Replicas, before.Leader) &&
		slices.Contains(after.ISR, after.Leader) {
		// The leader's AlterPartition took a replica of the reassignment's
		// target into the ISR, which completed the reassignment and
		// removed the leader: the controller elected from the ISR that
		// change left, in the same record (as Kafka's partition change
		// builder does).
		return
	}
	if slices.Contains(before.ELR, after.Leader) {
		w.stats.ELRElections++
		lost, joined := c.lostPowerMs[after.Leader], c.joinedISRMs[nodeTP{after.Leader, tp}]
		if lost > joined && c.registeredMs[after.Leader] > lost {
			what := "lost power"
			if c.wipedMs[after.Leader] == lost {
				what = "lost its data directory"
			}
			w.violation("S5", fmt.Sprintf("%s: broker %d elected leader at epoch %d from the ELR %v, but it %s at %d ms, after it last joined the ISR (at %d ms)",
				tp, after.Leader, after.LeaderEpoch, before.ELR, what, lost, joined))
		}
		return
	}
	if w.uncleanEnabled(img, t) {
		c.unclean[tp] = true
		c.lossyElection[tp] = after.LeaderEpoch
		w.lossEra[tp]++
		w.stateLost(tp)
		w.loss("%s: unclean election of %d (ISR was %v) at leader epoch %d; records only the old ISR had may be lost", tp, after.Leader, before.ISR, after.LeaderEpoch)
		return
	}
	if slices.Contains(before.LastKnownELR, after.Leader) {
		c.checkLastKnownELRElection(tp, before, after)
		return
	}
	w.violation("S5", fmt.Sprintf("%s: broker %d elected leader at epoch %d from outside the ISR %v and the ELR %v, and unclean.leader.election.enable is false",
		tp, after.Leader, after.LeaderEpoch, before.ISR, before.ELR))
}

// checkLastKnownELRElection is S5 for a leader elected from the last known
// ELR (cluster.partitionChange.elect): every replica that held the
// committed records shut down uncleanly. A leader that did not lose power
// since it last joined the ISR holds them; one that did may have lost
// some, allowed (as after an unclean election) only when every member of
// the ISR, the ELR and the last known ELR before it lost power too (no
// choice held more).
func (c *serverChecks) checkLastKnownELRElection(tp tpKey, before, after cluster.PartitionImage) {
	w := c.w
	w.stats.LastKnownELRElections++
	lostPower := func(b int32) bool { return c.lostPowerMs[b] > c.joinedISRMs[nodeTP{b, tp}] }
	if !lostPower(after.Leader) || c.registeredMs[after.Leader] < c.lostPowerMs[after.Leader] {
		// It lost nothing, or the registration elected is its dead
		// process's: the next one registers uncleanly before it serves.
		return
	}
	for _, b := range slices.Concat(before.ISR, before.ELR, before.LastKnownELR) {
		if !lostPower(b) {
			w.violation("S5", fmt.Sprintf("%s: broker %d elected leader at epoch %d from the last known ELR %v after it lost power, but broker %d (of ISR %v, ELR %v) did not",
				tp, after.Leader, after.LeaderEpoch, before.LastKnownELR, b, before.ISR, before.ELR))
			return
		}
	}
	c.unclean[tp] = true
	c.lossyElection[tp] = after.LeaderEpoch
	w.lossEra[tp]++
	w.stateLost(tp)
	w.loss("%s: broker %d elected leader at epoch %d from the last known ELR %v, each of which lost power; records they all lost are lost", tp, after.Leader, after.LeaderEpoch, before.LastKnownELR)
}

// truncatedAt says a replica of tp truncated offset away to agree with its
// leader: a write acknowledged there with acks=1 may have been lost, and the
// offset may hold the same value from another append (a retry's to the
// leader before), with that append's LogAppendTime.
func (c *serverChecks) truncatedAt(tp tpKey, offset int64) bool {
	for _, r := range c.truncated[tp] {
		if r.from <= offset && offset < r.to {
			return true
		}
	}
	return false
}

// powerLost notes that a node lost power.
func (c *serverChecks) powerLost(node int32) { c.lostPowerMs[node] = c.w.now }

// dataLost records what a power loss dropped from a replica's log.
func (c *serverChecks) dataLost(tp tpKey, node int32, from, to int64) {
	c.dropped[tp] = append(c.dropped[tp], offsetRange{node: node, from: from, to: to})
	c.w.lossEra[tp]++
	c.w.timelinef("n%d: %s lost [%d, %d) to the power loss (not yet fsynced)", node, tp, from, to)
	c.w.rec.mark(c.w.now, "lost", &tp, "n%d lost [%d, %d) to a power loss", node, from, to)
}

// lostSinceJoined says ISR member id of tp may lack records below end
// that it held when it joined the ISR: it lost power (or its data
// directory) since it last joined, and the controller has not taken it out
// yet, or a cause other than a power loss dropped them from a replica
// (emptyEndFell). A power loss or wipe of another replica excuses
// nothing.
func (c *serverChecks) lostSinceJoined(id int32, tp tpKey, end int64) bool {
	return c.lostPowerMs[id] > c.joinedISRMs[nodeTP{id, tp}] || c.causeBelow(tp, end) != ""
}

// droppedBelow says a power loss (or a restart that lowered a log end,
// emptyEndFell) dropped from some replica of tp an offset below end.
func (c *serverChecks) droppedBelow(tp tpKey, end int64) bool {
	_, ok := c.droppedRangeBelow(tp, end)
	return ok
}

// droppedRangeBelow is the first range dropped from a replica of tp that
// starts below end.
func (c *serverChecks) droppedRangeBelow(tp tpKey, end int64) (offsetRange, bool) {
	for _, r := range c.dropped[tp] {
		if r.from < end {
			return r, true
		}
	}
	return offsetRange{}, false
}

// node checks the invariants that an event on n may have broken: those of
// the replicas the event touched, and of the leaders of the partitions they
// follow (a follower's log bounds its leader's high watermark, S3).
func (c *serverChecks) node(n *node) {
	dirty := n.dirty
	n.dirty = nil
	for _, h := range dirty {
		h.dirty = false
	}
	if !n.up {
		return
	}
	for _, h := range dirty {
		if h.core == nil || c.w.stopped || n.replicas[h.key] != h {
			continue
		}
		c.checkReplica(n, h)
		if l := h.core.Leader(); l != n.id && l >= 0 && int(l) <= len(c.w.nodes) && !c.w.stopped {
			if ln := c.w.node(l); ln.up {
				if lh := ln.replicas[h.key]; lh != nil && lh.core != nil && lh.core.IsLeader() {
					c.checkReplica(ln, lh)
				}
			}
		}
	}
}

func (c *serverChecks) checkReplica(n *node, h *replicaHost) {
	w := c.w
	w.stats.InvariantsChecked++
	core := h.core
	epoch := core.LeaderEpoch()
	key := nodeTP{n.id, h.key}
	if prev, ok := c.replicaEpochs[key]; ok && epoch < prev {
		w.violation("S1", fmt.Sprintf("%s %s: leader epoch went back from %d to %d", n.name(), h.key, prev, epoch))
		return
	}
	c.replicaEpochs[key] = epoch
	if hw, leo := core.HighWatermark(), core.LogEndOffset(); hw > leo {
		w.violation("S3", fmt.Sprintf("%s %s: high watermark %d past the log end offset %d", n.name(), h.key, hw, leo))
		return
	}
	c.checkBatches(h)
	c.checkEpochCache(h)
	if core.IsLeader() {
		c.checkLeader(n, h)
	}
	if !w.stopped {
		w.txn.checks.replica(n, h)
	}
}

// checkBatches is S4 over the batches the replica gained since the last
// check.
func (c *serverChecks) checkBatches(h *replicaHost) {
	s := &h.shadow
	for i := len(s.batches) - 1; i >= 0; i-- {
		b := s.batches[i]
		k := batchKey{tp: h.key, start: s.start, base: b.base, last: b.last, epoch: b.epoch}
		prev, ok := c.chains[k]
		if ok && prev == b.chain {
			return // this batch, and so every one before it, was checked
		}
		if ok {
			c.w.violation("S4", fmt.Sprintf("%s %s: holds batch [%d, %d] of leader epoch %d after a log that differs from another replica's",
				h.n.name(), h.key, b.base, b.last, b.epoch))
			return
		}
		c.chains[k] = b.chain
	}
}

// checkEpochCache is S4 for a log's leader-epoch cache: strictly
// increasing in epoch and start offset, and the entry that covers the last
// batch names that batch's epoch.
func (c *serverChecks) checkEpochCache(h *replicaHost) {
	if h.log == nil {
		return
	}
	es := h.log.LeaderEpochs()
	for i := 1; i < len(es); i++ {
		if es[i].Epoch <= es[i-1].Epoch || es[i].StartOffset <= es[i-1].StartOffset {
			c.w.violation("S4", fmt.Sprintf("%s %s: leader-epoch cache out of order: %v", h.n.name(), h.key, es))
			return
		}
	}
	n := len(h.shadow.batches)
	if n == 0 || c.w.opts.Plant == PlantSkipTruncation {
		return
	}
	last := h.shadow.batches[n-1]
	if h.shadow.canon.wasDropped(last.id()) && !logHolds(h.log, last.base) {
		return // the shadow alone holds it (compaction_gaps.go)
	}
	covering := int32(-1)
	for _, e := range es {
		if e.StartOffset <= last.base {
			covering = e.Epoch
		}
	}
	if covering != last.epoch {
		c.w.violation("S4", fmt.Sprintf("%s %s: the last batch [%d, %d] has leader epoch %d, the leader-epoch cache %v says %d there",
			h.n.name(), h.key, last.base, last.last, last.epoch, es, covering))
	}
}

// checkLeader is S1, S2 and S3 for a replica that leads.
func (c *serverChecks) checkLeader(n *node, h *replicaHost) {
	w := c.w
	core := h.core
	tp, epoch, hw := h.key, core.LeaderEpoch(), core.HighWatermark()
	if prev, ok := c.epochLeaders[epochKey{tp, epoch}]; ok && prev != n.id {
		w.violation("S1", fmt.Sprintf("%s: leader epoch %d has two leaders: %d and %d", tp, epoch, prev, n.id))
		return
	}
	c.epochLeaders[epochKey{tp, epoch}] = n.id
	c.newestEpoch[tp] = max(c.newestEpoch[tp], epoch)
	ne := nodeEpoch{n.id, tp, epoch}
	last, seen := c.leaderHW[ne]
	if seen && hw < last {
		w.violation("S3", fmt.Sprintf("%s %s: high watermark went back from %d to %d in leader epoch %d", n.name(), tp, last, hw, epoch))
		return
	}
	c.leaderHW[ne] = hw
	isr := core.ISR()
	if seen && hw > last && len(isr) < min(h.minISR, max(len(core.Replicas()), 1)) {
		w.violation("S3", fmt.Sprintf("%s %s: high watermark advanced from %d to %d with ISR %v below min.insync.replicas %d",
			n.name(), tp, last, hw, isr, h.minISR))
		return
	}
	for _, id := range isr {
		if id == n.id {
			continue
		}
		m := w.node(id)
		if !m.up {
			continue
		}
		f := m.replicas[tp]
		if f == nil || f.core == nil || f.core.LeaderEpoch() != epoch {
			// A member that follows a newer leader epoch has left this
			// leader, which is stale: its log answers to the new leader.
			continue
		}
		if leo := f.core.LogEndOffset(); leo < hw && !c.lostSinceJoined(id, tp, hw) {
			w.violation("S3", fmt.Sprintf("%s %s: high watermark %d past the log end offset %d of ISR member %d (ISR %v, leader epoch %d)",
				n.name(), tp, hw, leo, id, isr, epoch))
			return
		}
	}
	c.checkDeletedLeader(n, h)
	c.checkCommitted(n, h, hw)
}

// checkCommitted is S2: the leader holds the committed prefix, which its
// high watermark may extend.
func (c *serverChecks) checkCommitted(n *node, h *replicaHost, hw int64) {
	w := c.w
	tp, epoch, s := h.key, h.core.LeaderEpoch(), &h.shadow
	cp := c.committed[tp]
	if cp == nil {
		cp = &committedPrefix{start: s.start}
		c.committed[tp] = cp
	}
	if cp.end > 0 && epoch >= cp.epoch && cp.start == s.start {
		i := s.find(cp.end - 1)
		if i < 0 || s.batches[i].chain != cp.chain || s.batches[i].last != cp.end-1 {
			w.lossEra[tp]++
			w.stateLost(tp)
			switch {
			case h.unclean:
				w.loss("%s: leader %d at epoch %d lacks records below the high watermark %d committed at epoch %d (unclean elections allowed)",
					tp, n.id, epoch, cp.end, cp.epoch)
			case c.lossyElection[tp] > cp.epoch:
				w.loss("%s: leader %d at epoch %d lacks records below the high watermark %d committed at epoch %d: the election of leader epoch %d may lose committed records",
					tp, n.id, epoch, cp.end, cp.epoch, c.lossyElection[tp])
			case c.causeBelow(tp, cp.end) != "":
				w.loss("%s: leader %d at epoch %d lacks records below the high watermark %d committed at epoch %d: %s",
					tp, n.id, epoch, cp.end, cp.epoch, c.causeBelow(tp, cp.end))
			case !c.promisesCommitted(h) && c.droppedBelow(tp, cp.end):
				r, _ := c.droppedRangeBelow(tp, cp.end)
				w.loss("%s: leader %d at epoch %d lacks records below the high watermark %d committed at epoch %d: %s (min.insync.replicas %d on %d replicas promises nothing past a power loss)",
					tp, n.id, epoch, cp.end, cp.epoch, r.cause(), c.minISROf(h), len(h.core.Replicas()))
			default:
				w.violation("S2", fmt.Sprintf("%s: leader %d at epoch %d does not hold the log below the high watermark %d that leader epoch %d committed",
					tp, n.id, epoch, cp.end, cp.epoch))
				return
			}
			*cp = committedPrefix{start: s.start}
		}
	}
	if hw > cp.end && hw > s.start {
		i := s.find(hw - 1)
		if i < 0 {
			return
		}
		*cp = committedPrefix{end: s.batches[i].last + 1, chain: s.batches[i].chain, epoch: epoch, start: s.start}
	}
}

// promisesCommitted says whether h's partition promises its committed
// records survive power losses and wipes of fewer than
// min.insync.replicas of its replicas (D2, with KIP-966's rules, which
// the simulated cluster keeps): min.insync.replicas (the lowest the topic
// had) of at least 2, on more than one replica. Such a partition loses
// committed records only through an election that may lose them (an
// unclean one, or one from the last known ELR after every member lost
// power: lossyElection) or a cause other than a power loss (causeBelow).
func (c *serverChecks) promisesCommitted(h *replicaHost) bool {
	return c.minISROf(h) >= 2 && len(h.core.Replicas()) >= 2
}

// minISROf is the min.insync.replicas of h's partition: the lowest its
// topic had, or the replica's own setting.
func (c *serverChecks) minISROf(h *replicaHost) int {
	if low, ok := c.lowestMinISR[h.key.topic]; ok && low < h.minISR {
		return low
	}
	return h.minISR
}

// causeBelow says what other than a power loss or a wipe dropped from a
// replica of tp an offset below end (emptyEndFell), or "".
func (c *serverChecks) causeBelow(tp tpKey, end int64) string {
	for _, r := range c.dropped[tp] {
		if r.why != "" && r.from < end {
			return r.why
		}
	}
	return ""
}

// lowerMinISR takes a committed min.insync.replicas record into the lowest
// value each topic had: a topic's own value, or, when it has none (deleted,
// or never set), the brokers' default (the broker resource "", or
// server.properties), which a broker-wide record changes for every topic
// without its own (broker_configs.go).
func (c *serverChecks) lowerMinISR(r cluster.ConfigRecord, next *cluster.MetadataImage) {
	lower := func(name string, v int) {
		if low, ok := c.lowestMinISR[name]; !ok || v < low {
			c.lowestMinISR[name] = v
		}
	}
	brokers := cluster.BrokerConfigs{Dynamic: next.BrokerConfigs(), Static: c.w.staticConfigs}
	switch {
	case r.ResourceType == kmsg.ConfigResourceTypeTopic && r.Value != nil:
		v, _ := strconv.Atoi(*r.Value)
		lower(r.ResourceName, v)
	case r.ResourceType == kmsg.ConfigResourceTypeTopic:
		t, _ := next.Topic(r.ResourceName) // nil: the brokers' value
		s, _ := cluster.TopicConfigValue(t, brokers, "min.insync.replicas")
		v, _ := strconv.Atoi(s)
		lower(r.ResourceName, v)
	case r.ResourceType == kmsg.ConfigResourceTypeBroker && r.ResourceName == "":
		for t := range next.Topics() {
			if _, own := t.Configs["min.insync.replicas"]; !own {
				s, _ := cluster.TopicConfigValue(t, brokers, "min.insync.replicas")
				v, _ := strconv.Atoi(s)
				lower(t.Name, v)
			}
		}
	}
}

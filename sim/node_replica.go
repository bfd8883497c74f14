package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// replicaHost is the shell of one partition replica on a node: it owns the
// log, feeds the replica core, and carries out what its Ready lists in the
// order it prescribes, as the partition actor does (and, for the follower
// role, as the replication property test's testNode does). Beside the log
// it keeps a shadow of the batches the log holds, for the checkers.
type replicaHost struct {
	n       *node
	key     tpKey
	topicID cluster.TopicID
	log     *logstore.Log
	core    *cluster.Replica
	// offline is why the replica stopped (a corrupt log, a log that
	// cannot be written): the partition is offline here until the node's
	// cluster.OfflineReplicas says its backoff ended (retryOffline) or the
	// node restarts.
	offline error
	nextID  cluster.RequestID
	waiting map[cluster.RequestID]waiter
	// parked are the fetch servers waiting on the replica's fetch view
	// (node_fetch_park.go), in the order they parked.
	parked []parkedFetch
	// deadlineMs is the core's NextDeadlineMs after its last input; dirty
	// says an event touched the replica since the last check.
	deadlineMs int64
	dirty      bool
	shadow     shadowLog
	// cleaning is the compaction job the node's cleaner has for the
	// replica (compaction.go).
	cleaning *cleanTask
	// ineligible are the brokers the replica core was told may join no
	// ISR of the partition (SetIneligibleReplicas).
	ineligible []int32
	// settings the checkers need.
	minISR  int
	unclean bool
	// busy says a slow leader append holds the replica (slow_disk.go);
	// mailbox are the inputs that wait for it, in arrival order.
	busy    bool
	mailbox []func()
}

type waitKind uint8

const (
	waitProduce       waitKind = iota // a client's produce
	waitFetchRead                     // a read of a fetch server's target
	waitWatch                         // a watch of a fetch server's target
	waitEpochEnd                      // an OffsetForLeaderEpoch partition
	waitGroupAppend                   // a group coordinator's append
	waitDeleteRecords                 // a DeleteRecords partition
)

// waiter is whoever waits for the core's answer to a request.
type waiter struct {
	kind     waitKind
	req      *message
	srv      *fetchServer
	index    int
	epochEnd *kmsg.OffsetForLeaderEpochResponseTopicPartition
	deleted  *kmsg.DeleteRecordsResponseTopicPartition
	// done takes a group coordinator's append outcome, or an
	// OffsetForLeaderEpoch partition's answer (its code).
	done func(code int16)
}

func (h *replicaHost) await(wt waiter) cluster.RequestID {
	h.nextID++
	h.waiting[h.nextID] = wt
	return h.nextID
}

func (h *replicaHost) dir() string {
	return fmt.Sprintf("%s/%s-%d", dataDir, h.key.topic, h.key.partition)
}

// open recovers the replica's log and builds its core, leader or follower
// as the partition record says.
func (h *replicaHost) open(p cluster.PartitionImage, settings cluster.TopicSettings, checkpointedHW int64) {
	n, w := h.n, h.n.w
	now := n.instant()
	log, err := h.openLog(logstore.Options{FS: n.fs, Dir: h.dir(), Config: settings.Log, NowMs: now.WallMs, TopicID: h.topicID})
	if err != nil {
		h.goOffline(fmt.Errorf("open the log: %w", err))
		return
	}
	h.log = log
	h.shadow.canon = w.compactionOf(h.key)
	h.minISR = settings.Replica.MinInsyncReplicas
	if t, ok := n.image.Topic(h.key.topic); ok {
		h.unclean = w.uncleanEnabled(n.image, t)
	}
	closed := n.closedShadows[h.key]
	h.shadow.prev = closed
	delete(n.closedShadows, h.key)
	err = h.shadow.rebuild(log)
	h.shadow.prev = nil
	if err != nil {
		h.goOffline(fmt.Errorf("read the recovered log: %w", err))
		return
	}
	n.checkRecoveredSynced(h.key, log, closed)
	if pre, ok := n.preCrashEnd[h.key]; ok {
		delete(n.preCrashEnd, h.key)
		if end := log.LogEndOffset(); end < pre {
			w.checks.dataLost(h.key, n.id, end, pre)
		}
	} else if before, ok := n.diskEnd[h.key]; ok && log.LogEndOffset() < before {
		w.checks.emptyEndFell(h.key, n.id, closed, log.LogEndOffset(), before)
	}
	n.diskEnd[h.key] = log.LogEndOffset()
	h.core = cluster.NewReplica(cluster.ReplicaOptions{NodeID: n.id, ReplicaLagTimeMaxMs: w.timing.replicaLagMaxMs,
		LogCleanerEnabled: true, RetentionCheckIntervalMs: cleanerCheckIntervalMs, CleanerBackoffMs: cleanerCheckIntervalMs,
		TruncateOnFetch: n.truncateOnFetch()},
		settings, cluster.ReplicaState{Partition: p, LogStartOffset: log.LogStartOffset(), LogEndOffset: log.LogEndOffset(),
			FlushedOffset: log.FlushedOffset(), HighWatermark: checkpointedHW, LeaderEpochs: log.LeaderEpochs(),
			Producers: log.ProducerStates()}, now)
	h.ineligible = n.image.ISRIneligibleReplicas(h.topicID, h.key.partition)
	h.core.SetIneligibleReplicas(h.ineligible, n.image.BrokerEpochs(), now)
	h.carryOut()
}

// carryOut performs the core's effects until it has none left.
func (h *replicaHost) carryOut() {
	if !h.dirty {
		h.dirty = true
		h.n.dirty = append(h.n.dirty, h)
	}
	for h.core != nil && !h.busy {
		rd := h.core.Ready()
		if rd.Empty() {
			h.deadlineMs = h.core.NextDeadlineMs()
			h.wakeParked()
			return
		}
		if at, slow := h.slowLeaderAppend(&rd); slow {
			h.holdFor(at, &rd)
			return
		}
		h.perform(&rd)
		h.route(&rd)
		if rd.Fatal != nil {
			h.goOffline(rd.Fatal)
			return
		}
	}
}

// perform carries out the storage effects in Ready's order, reporting each
// completion to the core.
func (h *replicaHost) perform(rd *cluster.Ready) {
	log, core := h.log, h.core
	if rd.ConfigureLog != nil {
		if err := log.SetConfig(*rd.ConfigureLog); err != nil {
			h.n.w.tracef("%s %s: configs not applied to the log: %v", h.n.name(), h.key, err)
		}
	}
	if a := rd.AssignEpochStart; a != nil {
		err := log.AssignEpochStartOffset(a.Epoch)
		core.EpochStartAssigned(log.LeaderEpochs(), err)
	}
	if t := rd.Truncate; t != nil {
		h.truncate(t)
	}
	if a := rd.FollowerAppend; a != nil {
		h.appendAsFollower(a)
	}
	if rl := rd.RaiseLogStart; rl != nil {
		if core.IsLeader() {
			h.n.w.stats.EmptyPrefixRaises++
			h.n.w.timelinef("%s: %s log start raised from %d to %d past a prefix that holds no batch", h.n.name(), h.key, log.LogStartOffset(), rl.Offset)
		}
		err := log.AdvanceLogStartOffset(rl.Offset)
		h.shadow.raiseStart(log.LogStartOffset())
		core.LogStartRaised(log.LogStartOffset(), err)
	}
	for _, ap := range rd.Appends {
		// One at a time, as production's shell after a group write
		// failed (partitionActor.appendEach): a batch whose producer's
		// earlier batch failed meanwhile is withdrawn, not written.
		if core.AppendWithdrawn(ap.ID) {
			continue
		}
		res, err := log.Append(ap.Batches, ap.LeaderEpoch, ap.NowMs)
		if err != nil {
			core.AppendCompleted(ap.ID, cluster.AppendOutcome{}, err)
			continue
		}
		h.shadow.appendBatches(ap.Batches)
		h.n.w.txn.checks.leaderAppended(h, ap.Batches, res.BaseOffsets)
		h.n.w.stats.Appends++
		core.AppendCompleted(ap.ID, cluster.AppendOutcome{BaseOffset: res.BaseOffsets[0], LogEndOffset: res.LogEndOffset, FlushedOffset: log.FlushedOffset()}, nil)
	}
	for _, v := range rd.VerifyTxns {
		// After the event's work, as the actor's messages are: the
		// coordinator may be on this node.
		h.n.post(func() { h.n.verifyTxn(h, v) })
	}
	for range rd.AwaitDurable {
		// The durable high watermark (group commit) is not simulated: the
		// node never sets log.flush.group.commit.
		panic("sim: AwaitDurable without a durable high watermark")
	}
	for _, rr := range rd.Reads {
		recs, err := log.Read(rr.Offset, rr.MaxBytes, rr.MaxOffset)
		core.ReadCompleted(rr.ID, recs, err)
	}
	for _, l := range rd.Lookups {
		to, found, err := lookUpTimestamp(log, l.TimestampMs, l.MaxTimestamp)
		core.TimestampLookedUp(l.ID, to, found, err)
	}
	for _, adv := range rd.LogStartAdvances {
		err := log.AdvanceLogStartOffset(adv.Offset)
		h.shadow.raiseStart(log.LogStartOffset())
		core.LogStartAdvanced(adv.ID, log.LogStartOffset(), err)
		if err == nil {
			h.plantDeleteEarly(adv.ID)
		}
	}
	if rd.TickLog != nil {
		_ = log.Tick(rd.TickLog.NowMs)
		// Under the skip-truncation plant the core may believe its log ends
		// before the log's real end: the plant keeps the lie consistent.
		core.Flushed(min(log.FlushedOffset(), core.LogEndOffset()))
	}
	log.RemoveProducers(rd.ExpireProducers)
	if rd.DeleteRetainedSegments != nil {
		before := log.LogStartOffset()
		_, _ = log.DeleteRetainedSegments(rd.DeleteRetainedSegments.NowMs, h.retentionHighWatermark(rd.DeleteRetainedSegments.HighWatermark))
		h.shadow.raiseStart(log.LogStartOffset())
		h.retentionApplied(before, log.LogStartOffset())
		core.RetentionApplied(log.LogStartOffset())
	}
	if rd.PlanCompaction != nil {
		core.CompactionPlanned(h.planCompaction(*rd.PlanCompaction))
	}
	if rd.FinishCompaction != nil {
		h.finishCompaction(rd.FinishCompaction.Commit)
	}
	h.n.diskEnd[h.key] = log.LogEndOffset()
	if h.shadow.end() != log.LogEndOffset() {
		panic(fmt.Sprintf("sim: %s %s: shadow ends at %d, the log at %d", h.n.name(), h.key, h.shadow.end(), log.LogEndOffset()))
	}
}

// truncate cuts a follower's log, unless the skip-truncation plant keeps
// the divergent tail (and tells the core what it expects to hear).
func (h *replicaHost) truncate(t *cluster.TruncateLog) {
	log, core := h.log, h.core
	if h.n.w.opts.Plant == PlantSkipTruncation && !t.Fully && t.Offset < log.LogEndOffset() {
		h.n.w.stats.PlantFired++
		h.n.w.tracef("%s %s: plant skip-truncation keeps [%d, %d)", h.n.name(), h.key, t.Offset, log.LogEndOffset())
		end := max(t.Offset, log.LogStartOffset())
		core.Truncated(cluster.TruncateOutcome{LogStartOffset: log.LogStartOffset(), LogEndOffset: end,
			FlushedOffset: min(log.FlushedOffset(), end), LeaderEpochs: epochsBelow(log.LeaderEpochs(), end)}, nil)
		return
	}
	before := log.LogEndOffset()
	var err error
	if t.Fully {
		err = log.TruncateFullyAndStartAt(t.Offset, t.NowMs)
		h.shadow.reset(log.LogStartOffset())
	} else {
		err = log.Truncate(t.Offset, t.NowMs)
		h.shadow.truncate(log.LogEndOffset())
	}
	if after := log.LogEndOffset(); after < before {
		h.n.w.stats.Truncations++
		h.n.w.checks.truncated[h.key] = append(h.n.w.checks.truncated[h.key], offsetRange{node: h.n.id, from: after, to: before})
		h.n.w.timelinef("%s: %s truncated [%d, %d) to agree with its leader", h.n.name(), h.key, after, before)
		h.n.w.rec.mark(h.n.w.now, "truncation", &h.key, "%s truncated [%d, %d)", h.n.name(), after, before)
	}
	core.Truncated(cluster.TruncateOutcome{LogStartOffset: log.LogStartOffset(), LogEndOffset: log.LogEndOffset(),
		FlushedOffset: log.FlushedOffset(), LeaderEpochs: log.LeaderEpochs(), Producers: log.ProducerStates()}, err)
}

// appendAsFollower appends what the follower fetched; under the
// skip-truncation plant the batches the kept tail overlaps are dropped.
func (h *replicaHost) appendAsFollower(a *cluster.AppendAsFollower) {
	log, core := h.log, h.core
	batches := a.Batches
	if h.n.w.opts.Plant == PlantSkipTruncation {
		var kept [][]byte
		for _, b := range batches {
			if pb, err := logstore.ParseBatch(b); err != nil || pb.FirstOffset >= log.LogEndOffset() {
				kept = append(kept, b)
			}
		}
		batches = kept
	}
	_, err := log.AppendAsFollower(batches, a.NowMs)
	if err == nil {
		h.traceEmptyStretches(batches)
		h.shadow.prev = h.leaderShadow()
		h.shadow.appendBatches(batches)
		h.shadow.prev = nil
	}
	core.FollowerAppendCompleted(cluster.FollowerAppendOutcome{LogEndOffset: log.LogEndOffset(), FlushedOffset: log.FlushedOffset(),
		LeaderEpochs: log.LeaderEpochs()}, err)
}

// leaderShadow is the shadow of the replica the follower fetches from, if
// its node has it open. A gap before what the follower fetched is a run of
// batches compaction dropped on that replica, so it is filled from that
// replica's history first (fillFromPrev), not from one the follower's own
// log once held at the same offsets (seed 2321 with --duration 3m: n1
// truncated to 112 and fetched [132, 133] of epoch 12 from n3, whose
// epoch 12 batches from 117 were compacted away; n1's own dropped epoch 8
// batches at 112–131 filled the gap, and S4 found n1's log differing from
// n3's).
func (h *replicaHost) leaderShadow() *shadowLog {
	l := h.core.Leader()
	if l < 0 || l == h.n.id || int(l) > len(h.n.w.nodes) {
		return nil
	}
	if lh := h.n.w.node(l).replicas[h.key]; lh != nil && lh.log != nil {
		return &lh.shadow
	}
	return nil
}

// epochsBelow is a leader-epoch cache cut at end, as a truncation leaves it.
func epochsBelow(es []logstore.EpochEntry, end int64) []logstore.EpochEntry {
	var out []logstore.EpochEntry
	for _, e := range es {
		if e.StartOffset < end {
			out = append(out, e)
		}
	}
	return out
}

// route hands the core's answers to whoever waits, its ISR change to the
// controller, its fetch state to the fetchers.
func (h *replicaHost) route(rd *cluster.Ready) {
	n := h.n
	for _, rep := range rd.ProduceReplies {
		if wt, ok := h.take(rep.ID); ok {
			if wt.kind == waitGroupAppend {
				done, code := wt.done, rep.ErrorCode
				n.post(func() { done(code) })
				continue
			}
			if rep.ErrorCode == kerr.OutOfOrderSequenceNumber.Code && strings.Contains(rep.ErrorMessage, cluster.VerificationSeqRefusal) {
				n.w.stats.VerificationSeqRefusals++
			}
			if rep.ErrorCode != 0 && rep.ErrorMessage != "" {
				n.w.tracef("%s %s: produce refused: %s: %s", n.name(), h.key, codeName(rep.ErrorCode), rep.ErrorMessage)
			}
			n.w.respond(wt.req, &produceResponse{errorCode: rep.ErrorCode, baseOffset: rep.BaseOffset, logAppendTimeMs: rep.LogAppendTimeMs,
				wallMs: n.instant().WallMs, leaderEpoch: h.core.LeaderEpoch(), topicID: h.topicID})
		}
	}
	for _, rep := range rd.FetchReplies {
		wt, ok := h.take(rep.ID)
		if !ok {
			releaseRecords(rep.Records)
			continue
		}
		srv, i, rep := wt.srv, wt.index, rep
		if wt.kind == waitWatch {
			n.post(func() { srv.wokenWithRead(i, rep) })
		} else {
			n.post(func() { srv.readDone(i, rep) })
		}
	}
	for _, rep := range rd.EpochEndReplies {
		if wt, ok := h.take(rep.ID); ok {
			wt.epochEnd.ErrorCode, wt.epochEnd.LeaderEpoch, wt.epochEnd.EndOffset = rep.ErrorCode, rep.LeaderEpoch, rep.EndOffset
			wt.done(rep.ErrorCode)
		}
	}
	h.routeDeleteRecords(rd.DeleteRecordsReplies)
	for _, wk := range rd.Woken {
		wt, ok := h.take(wk.ID)
		if ok && !wk.Expired {
			srv := wt.srv
			n.post(srv.woken)
		}
	}
	if ap := rd.AlterPartition; ap != nil {
		n.sendAlterPartition(h, *ap)
	}
	if st := rd.FetchState; st != nil {
		s := *st
		n.post(func() { n.feedFetchers(h, s) })
	}
}

func (h *replicaHost) take(id cluster.RequestID) (waiter, bool) {
	wt, ok := h.waiting[id]
	delete(h.waiting, id)
	return wt, ok
}

// goOffline stops the replica: the partition is offline on this node
// (production's supervisor stops the actor) until its backoff ends.
func (h *replicaHost) goOffline(err error) {
	n := h.n
	h.offline = err
	n.w.stats.OfflineReplicas++
	var rec cluster.PartitionImage
	if n.hosted != nil {
		if t, ok := n.hosted.Topic(h.key.topic); ok && int(h.key.partition) < len(t.Partitions) {
			rec = t.Partitions[h.key.partition]
		}
	}
	at := n.retries.WentOffline(h.offlineID(), n.instant().MonoMs, rec, n.id)
	n.w.timelinef("%s: %s offline until %s: %v", n.name(), h.key, fmtMs(n.monoToVirtual(at)), err)
	n.w.rec.mark(n.w.now, "offline", &h.key, "%s offline: %v", n.name(), err)
	h.stop(false)
	n.offlineReplicasChanged()
	n.armRetry()
}

func (h *replicaHost) offlineID() cluster.OfflineReplicaID {
	return cluster.OfflineReplicaID{TopicID: h.topicID, Partition: h.key.partition}
}

// retryOffline starts again the offline replicas whose backoff ended, from
// the partition records the node hosts, as production's replica manager
// does.
func (n *node) retryOffline() {
	for _, id := range n.retries.Due(n.instant().MonoMs) {
		var r *cluster.LocalReplica
		if n.hosted == nil {
			return
		}
		if t, ok := n.hosted.TopicByID(id.TopicID); ok && int(id.Partition) < len(t.Partitions) && slices.Contains(t.Partitions[id.Partition].Replicas, n.id) {
			r = &cluster.LocalReplica{Topic: t.Name, TopicID: t.ID, Partition: t.Partitions[id.Partition]}
		}
		if r == nil {
			n.retries.Removed(id)
			continue
		}
		if h := n.replicas[tpKey{r.Topic, id.Partition}]; h == nil || h.offline == nil {
			n.retries.Started(id, n.instant().MonoMs)
			continue
		}
		if !n.retries.MayStart(id, n.instant().MonoMs, r.Partition, n.id) {
			continue // the controller has not moved its leadership yet
		}
		n.w.stats.OfflineRetries++
		n.w.timelinef("%s: %s/%d starts again after being offline", n.name(), r.Topic, id.Partition)
		n.startReplica(*r)
	}
	n.armRetry()
}

// armRetry schedules retryOffline for the next offline replica's retry, as
// the replica manager's retry timer does after every pass: a retry's time
// is on the node's monotonic clock, whose rate may change after the timer
// was set, so a pass can come before a replica is due, and only the next
// timer starts it (seed 5400068 left one offline for good). At most one
// timer is pending, the earliest.
func (n *node) armRetry() {
	at, ok := n.retries.NextRetryMs()
	if !ok {
		return
	}
	v := max(n.monoToVirtual(at), n.w.now+1)
	if n.retryArmed && n.retryArmedAt <= v {
		return
	}
	n.retryArmed, n.retryArmedAt = true, v
	n.at(v, func() {
		if n.retryArmedAt == v {
			n.retryArmed = false
		}
		n.retryOffline()
	})
}

// stop closes the replica (deleting its data when asked); whoever waits on
// it gets NOT_LEADER_OR_FOLLOWER, and the fetchers forget it.
func (h *replicaHost) stop(deleteData bool) {
	n := h.n
	h.core = nil
	if !deleteData {
		n.keepShadow(h)
	}
	if h.log != nil {
		_ = h.log.Close()
		h.log = nil
	}
	if deleteData && n.w.opts.Plant == PlantKeepDeleted {
		n.w.stats.PlantFired++
	} else if deleteData {
		delete(n.closedShadows, h.key)
		delete(n.diskEnd, h.key)
		delete(n.preCrashEnd, h.key)
		delete(n.syncedAtPowerLoss, h.key)
		if err := n.fs.RemoveAll(h.dir()); err != nil {
			// Left behind by a disk fault (the next start renames it
			// aside).
			n.leaveDir(h.dir()[len(dataDir)+1:])
		}
		_ = n.fs.SyncDir(dataDir)
	}
	for _, id := range sortedRequestIDs(h.waiting) {
		wt := h.waiting[id]
		switch wt.kind {
		case waitProduce:
			n.w.respond(wt.req, &produceResponse{errorCode: kerr.NotLeaderForPartition.Code, baseOffset: -1})
		case waitFetchRead:
			srv, i := wt.srv, wt.index
			n.post(func() {
				srv.readDone(i, cluster.FetchReply{ErrorCode: kerr.NotLeaderForPartition.Code, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1})
			})
		case waitWatch:
			n.post(wt.srv.woken)
		case waitGroupAppend, waitEpochEnd, waitDeleteRecords:
			done := wt.done
			n.post(func() { done(kerr.NotLeaderForPartition.Code) })
		}
	}
	h.waiting = map[cluster.RequestID]waiter{}
	h.wakeParked()
	p := cluster.FetcherPartition{Topic: h.key.topic, TopicID: h.topicID, Partition: h.key.partition}
	for _, leader := range n.leaders {
		n.fetchers[leader].core.RemovePartition(p)
	}
	if h.offline == nil {
		delete(n.replicas, h.key)
		for i, k := range n.keys {
			if k == h.key {
				n.keys = append(n.keys[:i:i], n.keys[i+1:]...)
				break
			}
		}
	}
}

func sortedRequestIDs(m map[cluster.RequestID]waiter) []cluster.RequestID {
	ids := make([]cluster.RequestID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	return ids
}

func releaseRecords(r *logstore.Records) {
	if r != nil {
		r.Release()
	}
}

// shadowLog is what the checkers know of a replica's log: its batches as
// first written (compaction.go), each with a hash of the whole log up to
// it (log matching, S4, compares those).
type shadowLog struct {
	start   int64
	batches []shadowBatch
	// canon is what compaction did to the partition.
	canon *compactionLog
	// prev, while the shadow is rebuilt from a recovered log, is the
	// shadow of the replica that last had the log open; while a follower
	// appends what it fetched, its leader's (compaction_gaps.go).
	prev *shadowLog
}

type shadowBatch struct {
	base, last int64
	epoch      int32
	crc        uint32
	chain      uint64
	// The batch's producer id, epoch and first sequence (-1: none), for
	// the sequence checks (check_txn.go).
	pid    int64
	pepoch int16
	seq    int32
}

func (s *shadowLog) end() int64 {
	if n := len(s.batches); n > 0 {
		return s.batches[n-1].last + 1
	}
	return s.start
}

// push adds a batch read from the log or appended to it: as first
// written, after the batches compaction dropped before it.
func (s *shadowLog) push(b logstore.Batch) {
	if logstore.IsEmptyStretchBatch(&b) && s.fillEmptyStretch(b) {
		return
	}
	crc := s.canon.originalCRC(&b)
	if b.FirstOffset > s.end() && !s.fillFromPrev(b.FirstOffset) {
		s.fillDropped(batchID{b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch, crc})
	}
	s.pushBatch(shadowBatch{base: b.FirstOffset, last: b.LastOffset(), epoch: b.PartitionLeaderEpoch, crc: crc,
		pid: b.ProducerID, pepoch: b.ProducerEpoch, seq: b.FirstSequence})
}

// chainStart is the chain hash of an empty log.
const chainStart = uint64(0xcbf29ce484222325)

// pushBatch adds b (its chain hash computed here) at the shadow's end.
func (s *shadowLog) pushBatch(b shadowBatch) {
	base, last, epoch, crc := b.base, b.last, b.epoch, b.crc
	prev := chainStart
	if n := len(s.batches); n > 0 {
		prev = s.batches[n-1].chain
	}
	h := prev
	for _, v := range []uint64{uint64(base), uint64(last), uint64(uint32(epoch)), uint64(crc)} {
		h ^= v
		h *= 0x100000001b3
		h ^= h >> 29
	}
	b.chain = h
	s.batches = append(s.batches, b)
}

func (s *shadowLog) appendBatches(batches [][]byte) {
	for _, p := range batches {
		b, err := logstore.ParseBatch(p)
		if err != nil {
			panic(fmt.Sprintf("sim: appended batch does not parse: %v", err))
		}
		s.push(b)
	}
}

// truncate drops the batches past end.
func (s *shadowLog) truncate(end int64) {
	for len(s.batches) > 0 && s.batches[len(s.batches)-1].last >= end {
		s.batches = s.batches[:len(s.batches)-1]
	}
	if len(s.batches) == 0 {
		s.start = min(s.start, end)
	}
}

func (s *shadowLog) reset(start int64) { s.start, s.batches = start, nil }

// raiseStart drops the batches wholly below a new log start offset. The
// chain hashes of those left restart from the new start, as a replica's
// whose log begins there (a leader's log start moved past records its
// followers still held, which they then drop): S4 compares logs above their
// log start, not the prefixes they dropped (seed 2315 with --duration 3m
// failed S4 on this checker error: a follower that fetched [327, 327] from a
// leader whose log started at 327 had chained it after its own older
// batches, then raised its log start to 327).
func (s *shadowLog) raiseStart(start int64) {
	i := 0
	for i < len(s.batches) && s.batches[i].last < start {
		i++
	}
	kept := s.batches[i:]
	if len(kept) == 0 {
		s.start, s.batches = max(s.start, start), kept
		return
	}
	s.start = min(start, kept[0].base)
	if i == 0 {
		return
	}
	s.batches = make([]shadowBatch, 0, len(kept))
	for _, b := range kept {
		s.pushBatch(b)
	}
}

// find returns the index of the batch holding offset, or -1.
func (s *shadowLog) find(offset int64) int {
	lo, hi := 0, len(s.batches)
	for lo < hi {
		mid := (lo + hi) / 2
		if s.batches[mid].last < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(s.batches) && s.batches[lo].base <= offset {
		return lo
	}
	return -1
}

// rebuild reads a recovered log's batches.
func (s *shadowLog) rebuild(log *logstore.Log) error {
	s.reset(log.LogStartOffset())
	at, err := eachLogBatch(log, func(b *logstore.Batch) error {
		if b.FirstOffset >= s.end() || len(s.batches) == 0 {
			if len(s.batches) == 0 {
				s.start = min(s.start, b.FirstOffset)
			}
			s.push(*b)
		}
		return nil
	})
	if err != nil || at >= log.LogEndOffset() {
		return err
	}
	// No batch from at to the log end (compaction_gaps.go).
	if !s.fillFromPrev(log.LogEndOffset()) && !s.fillForward(log.LogEndOffset()) {
		return fmt.Errorf("read at %d below the log end offset %d returned nothing, and compaction dropped no run of batches there", at, log.LogEndOffset())
	}
	return nil
}

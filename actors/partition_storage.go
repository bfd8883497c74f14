package actors

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// groupCommitWaiters bounds the durability waits queued on a partition's group
// committer.
const groupCommitWaiters = 4096

// cleanerStopWait bounds how long a stopping partition waits for its
// running compaction to notice the closed log.
const cleanerStopWait = 10 * time.Second

// start opens the log and builds the core from it, the partition's leader
// epoch (metadata image) and its checkpointed high watermark.
func (a *partitionActor) start(ctx actor.Context) {
	a.waiting = map[cluster.RequestID]any{}
	a.self = ctx.Self()
	a.board = a.node.fetchBoards.open(a.self, a.assigned.board)
	pa, now := a.assigned, a.node.cfg.Clock.Now()
	log, err := a.openLog(pa, now.WallMs)
	if err != nil {
		a.logger.Error("partition offline: cannot open its log", zap.Error(err))
		panic(fmt.Errorf("%w: open log: %w", errPartitionUnusable, err))
	}
	// A leader's core records where its epoch starts (AssignEpochStart);
	// a follower's truncates first.
	a.log = log
	a.board.syncsAppends.Store(syncsAppends(pa.settings.Log))
	a.incarnation, a.route = partitionIncarnations.Add(1), fetchRoute{}
	if a.node.cfg.GroupCommit {
		a.committer = logstore.NewGroupCommitter(log, groupCommitWaiters, a.logger)
	}
	var checkpointed int64
	a.highWatermark, checkpointed = a.node.highWatermarks.register(logstore.TopicPartition{Topic: pa.topic, Partition: pa.image.Partition})
	a.core = cluster.NewReplica(cluster.ReplicaOptions{
		NodeID: a.node.cfg.NodeID, RetentionCheckIntervalMs: a.node.cfg.RetentionCheckIntervalMs,
		CleanerBackoffMs: a.node.cfg.CleanerBackoffMs, LogCleanerEnabled: !a.node.cfg.DisableLogCleaner,
		ReplicaLagTimeMaxMs:    a.node.cfg.brokerSettingMs("replica.lag.time.max.ms"),
		ProducerIDExpirationMs: a.node.cfg.ProducerIDExpirationMs,
		TruncateOnFetch:        pa.truncateOnFetch,
	}, pa.settings, cluster.ReplicaState{
		Partition: pa.image, LogStartOffset: log.LogStartOffset(), LogEndOffset: log.LogEndOffset(),
		FlushedOffset: log.FlushedOffset(), HighWatermark: checkpointed, LeaderEpochs: log.LeaderEpochs(),
		Producers: log.ProducerStates(),
	}, now)
	a.core.SetIneligibleReplicas(pa.ineligible, pa.brokerEpochs, now)
	labels := partitionLabels(pa.topic, pa.image.Partition)
	m := a.node.metrics
	a.bytesIn, a.bytesOut = m.topicBytesIn.WithLabelValues(pa.topic), m.topicBytesOut.WithLabelValues(pa.topic)
	a.endOffsetGauge, a.sizeGauge = m.logEndOffset.WithLabelValues(labels...), m.logSizeBytes.WithLabelValues(labels...)
	a.publishGauges()
}

// stop closes the log and tells whoever still waits that the partition is
// gone. final is a stop for good (not a restart): the partition's high
// watermark then leaves the node's checkpoint, unless the node is stopping.
func (a *partitionActor) stop(final bool) {
	a.closeBoard(final)
	a.forgetFetchState()
	a.abandonAlterPartition()
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.committer != nil {
		a.committer.Close()
	}
	if a.log != nil {
		closeLog := a.log.Close
		switch {
		case final && a.assigned.retired != nil && a.assigned.retired.Load():
			closeLog = a.log.CloseForDeletion
		case final && a.node.stopping.Load():
			// The node stops: it syncs the filesystem once for every
			// log's clean shutdown marker (Node.stop).
			closeLog = a.log.CloseForShutdown
		}
		if err := closeLog(); err != nil {
			a.logger.Error("close log", zap.Error(err))
		}
		a.log = nil
	}
	if a.cleaning != nil {
		// Close abandoned the job; its Run stops and removes its files.
		// Wait for that before a restart reopens the directory.
		select {
		case <-a.cleaningDone:
		case <-time.After(cleanerStopWait):
			a.logger.Warn("compaction still running after the log closed")
		}
		a.cleaning, a.cleaningDone = nil, nil
	}
	if final && a.highWatermark != nil {
		a.node.highWatermarks.forget(logstore.TopicPartition{Topic: a.assigned.topic, Partition: a.assigned.image.Partition}, a.highWatermark)
	}
	for _, id := range sortedRequestIDs(a.waiting) {
		answerUndelivered(a.take(id))
	}
}

func sortedRequestIDs(m map[cluster.RequestID]any) []cluster.RequestID {
	ids := make([]cluster.RequestID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// maxHeldBytes bounds the produce buffers the node's leaders hold for their
// followers (logstore.HoldBudget).
const maxHeldBytes = 64 << 20

// append appends one produce's batches and reports the outcome. A leader
// with followers hands the produce request's frame to the log with the
// batch it holds: the followers' fetches of it are then answered from that
// memory (logstore.AppendValidatedHeld), and the log lets the frame go.
func (a *partitionActor) append(ap cluster.AppendBatches) {
	var res logstore.AppendResult
	var err error
	if release := a.holdableFrame(ap); release != nil {
		res, err = a.log.AppendValidatedHeld(ap.Batches, ap.LeaderEpoch, ap.NowMs, release)
	} else {
		res, err = a.log.AppendValidated(ap.Batches, ap.LeaderEpoch, ap.NowMs)
	}
	if err != nil {
		a.appendFailures.failed(a.logger, a.node.cfg.Clock.Now().MonoMs, err)
		a.core.AppendCompleted(ap.ID, cluster.AppendOutcome{}, err)
		return
	}
	a.appendFailures.succeeded(a.logger)
	a.core.AppendCompleted(ap.ID, cluster.AppendOutcome{BaseOffset: res.BaseOffsets[0], LogEndOffset: res.LogEndOffset, FlushedOffset: a.log.FlushedOffset()}, nil)
	a.endOffsetGauge.Set(float64(res.LogEndOffset))
}

// holdableFrame takes, for the log to hold, the release of the memory of
// ap's batch on a leader with followers (holdableProduce); nil when the
// log may not hold it.
func (a *partitionActor) holdableFrame(ap cluster.AppendBatches) func() {
	msg := a.holdableProduce(ap)
	if msg == nil {
		return nil
	}
	release := msg.heldRelease()
	msg.release = nil
	return release
}

// holdableProduce is the produce whose memory holdableFrame would take for
// ap, nil for none; it takes nothing. On a leader with followers that is
// a produce appending its own frame's records (the very bytes of its
// frame), and an append of memory built for it alone: a transaction
// marker's control batch (the core encodes it) or a coordinator's batch
// (ownRecords). Held, the followers' fetches of those small batches,
// several per transaction, are answered from memory rather than read
// back from the segment file, a pread each.
func (a *partitionActor) holdableProduce(ap cluster.AppendBatches) *producePartition {
	if len(ap.Batches) != 1 || len(a.core.Replicas()) < 2 || !a.core.IsLeader() {
		return nil
	}
	msg := a.producing.get(ap.ID)
	if msg == nil || len(ap.Batches[0]) == 0 {
		return nil
	}
	if msg.ownsBatch() {
		return msg
	}
	b, records := ap.Batches[0], msg.records
	if msg.release == nil || len(b) != len(records) || &b[0] != &records[0] {
		return nil
	}
	return msg
}

// awaitDurable hands a durability wait to the group committer.
func (a *partitionActor) awaitDurable(offset int64) {
	if a.committer == nil {
		a.committer = logstore.NewGroupCommitter(a.log, groupCommitWaiters, a.logger)
	}
	self, root, log := a.self, a.node.system.Root, a.log
	a.committer.NotifyWhenDurable(offset, func(err error) { root.Send(self, &durableUpTo{log: log, offset: offset, err: err}) })
}

func (a *partitionActor) deleteRetainedSegments(d cluster.DeleteRetainedSegments) {
	n, err := a.log.DeleteRetainedSegments(d.NowMs, d.HighWatermark)
	switch {
	case err != nil:
		a.logger.Error("retention", zap.Error(err))
	case n > 0:
		a.logger.Info("segments deleted by retention", zap.Int("segments", n), zap.Int64("log_start_offset", a.log.LogStartOffset()))
	}
	a.core.RetentionApplied(a.log.LogStartOffset())
	a.publishGauges()
}

// planCompaction hands the log to the node's cleaner when the log has a job;
// it reports whether the cleaner took one.
func (a *partitionActor) planCompaction(p cluster.PlanCompaction) bool {
	job, ok := a.log.PlanClean(p.NowMs, p.MaxOffset)
	if !ok {
		return false
	}
	self, root := a.self, a.node.system.Root
	done, ok := a.node.cleaner.submit(job, func(err error) { root.Send(self, &cleanFinished{job: job, err: err}) })
	if !ok {
		job.Abandon()
		return false
	}
	a.cleaning, a.cleaningDone = job, done
	return true
}

// finishCompaction commits the job that ran, or gives it up.
func (a *partitionActor) finishCompaction(commit bool) {
	job := a.cleaning
	a.cleaning, a.cleaningDone = nil, nil
	if !commit {
		job.Abandon()
		return
	}
	if err := a.log.CommitClean(job); err != nil {
		a.logger.Error("compaction commit failed", zap.Error(err))
		return
	}
	st := job.Stats()
	m := a.node.metrics
	m.cleanerRuns.Inc()
	m.cleanerBytesRead.Add(float64(st.BytesRead))
	m.cleanerBytesWritten.Add(float64(st.BytesWritten))
	m.cleanerRecordsRemoved.Add(float64(st.RecordsRemoved))
	a.logger.Info("log compacted", zap.Int64("cleaned_up_to", st.CleanedUpToOffset),
		zap.Float64("dirty_ratio", st.DirtyRatio), zap.Int64("bytes_read", st.BytesRead), zap.Int64("bytes_written", st.BytesWritten),
		zap.Int64("records_removed", st.RecordsRemoved), zap.Int("segments_replaced", st.SegmentsReplaced))
	a.publishGauges()
}

func (a *partitionActor) publishGauges() {
	a.endOffsetGauge.Set(float64(a.log.LogEndOffset()))
	a.sizeGauge.Set(float64(a.log.SizeBytes()))
}

// partitionDir is the directory of one partition's log.
func (n *Node) partitionDir(topic string, partition int32) string {
	return filepath.Join(n.cfg.DataDir, fmt.Sprintf("%s-%d", topic, partition))
}

// maxFreeBlockBytes bounds the free blocks the node's block pool keeps: a
// busy cache frees about one block per block it takes in, so a few
// megabytes carry the tail and cache blocks of every partition.
const maxFreeBlockBytes = 32 << 20

// blockCache is the node's cache as logstore sees it (nil when disabled).
func (n *Node) blockCache() logstore.BlockCache {
	if n.cache == nil {
		return nil
	}
	return n.cache
}

// partitionSupervisor restarts a partition actor that panicked (it rebuilds
// its state from the log) and stops one whose log is corrupt or unusable,
// which marks the partition offline instead of looping.
func partitionSupervisor() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(3, 10*time.Second, func(reason interface{}) actor.Directive {
		if err, ok := reason.(error); ok && (errors.Is(err, logstore.ErrCorruption) || errors.Is(err, errPartitionUnusable)) {
			return actor.StopDirective
		}
		return actor.RestartDirective
	})
}

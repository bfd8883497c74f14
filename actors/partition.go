package actors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// errPartitionUnusable marks a failure after which restarting the partition
// actor cannot help (the supervisor stops it: the partition goes offline).
var errPartitionUnusable = errors.New("partition unusable")

// partitionTick wakes a partition actor for its timers and housekeeping.
type partitionTick struct{}

// durableUpTo reports that the group committer's fsync covers offset.
type durableUpTo struct {
	offset int64
	err    error
}

// topicConfigsChanged tells a partition actor its topic's effective configs
// changed.
type topicConfigsChanged struct{ settings cluster.TopicSettings }

// partitionAssignment is what a partition actor is started with: which
// partition, its record in the metadata image (replicas, leader, leader
// epoch), and its topic's effective configs.
type partitionAssignment struct {
	topic    string
	topicID  cluster.TopicID
	image    cluster.PartitionImage
	settings cluster.TopicSettings
}

// partitionProbe runs a function inside a partition actor, on its mailbox
// goroutine: an operator's and a test's window into a live partition (a panic
// in it is supervised like any other).
type partitionProbe struct{ run func(*partitionActor) }

// housekeepingInterval is how often a partition runs flush.ms, the recovery
// point checkpoint and retention even when idle.
const housekeepingInterval = time.Second

// partitionActor is the thin shell around one partition's replica core: it
// owns the log, feeds the core, and carries out its effects.
type partitionActor struct {
	node        *Node
	topic       string
	partition   int32
	leaderEpoch int32
	settings    cluster.TopicSettings
	logger      *zap.Logger

	log       *logstore.Log
	committer *logstore.GroupCommitter
	core      *cluster.Replica

	self            *actor.PID
	nextID          cluster.RequestID
	produces        map[cluster.RequestID]func(producePartitionResult)
	watches         map[cluster.RequestID]*watchPartition
	timer           *time.Timer
	tickAt          time.Time // when timer fires; zero when not armed
	lastRetentionMs int64
	// cleaning is the compaction job handed to the node's cleaner, if any;
	// cleaningDone closes when its Run has returned.
	cleaning     *logstore.CleanJob
	cleaningDone <-chan struct{}

	// The partition's metrics, looked up once.
	bytesIn, bytesOut         prometheus.Counter
	endOffsetGauge, sizeGauge prometheus.Gauge
}

func newPartitionActor(n *Node, pa partitionAssignment) *partitionActor {
	return &partitionActor{node: n, topic: pa.topic, partition: pa.image.Partition,
		leaderEpoch: pa.image.LeaderEpoch, settings: pa.settings,
		logger: n.logger.With(zap.String("topic", pa.topic), zap.Int32("partition", pa.image.Partition))}
}

// Receive implements actor.Actor.
func (a *partitionActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *producePartition:
		a.produce(msg)
	case *fetchPartition:
		a.fetch(msg)
	case *watchPartition:
		a.nextID++
		a.watches[a.nextID] = msg
		a.core.Watch(a.nextID, msg.offset, msg.deadline.UnixMilli())
	case *listOffsetsPartition:
		msg.reply(a.listOffsets(msg))
	case *deleteRecordsPartition:
		msg.reply(a.deleteRecords(msg))
	case *logDirPartition:
		msg.reply(a.log.SizeBytes())
		return
	case *durableUpTo:
		a.durable(msg)
	case *topicConfigsChanged:
		a.applyConfigs(msg.settings)
	case *partitionTick:
		a.tick()
	case *cleanFinished:
		a.cleanFinished(msg)
	case *partitionProbe:
		msg.run(a)
	case *actor.Stopping, *actor.Restarting:
		a.stop()
		return
	default:
		return
	}
	a.carryOut(ctx)
}

func (a *partitionActor) start(ctx actor.Context) {
	a.produces = map[cluster.RequestID]func(producePartitionResult){}
	a.watches = map[cluster.RequestID]*watchPartition{}
	cfg := a.settings
	nowMs := time.Now().UnixMilli()
	log, err := logstore.Open(logstore.Options{
		FS: a.node.cfg.FS, Dir: a.node.partitionDir(a.topic, a.partition), Config: cfg.Log,
		Cache: a.node.blockCache(), Logger: a.logger, NowMs: nowMs,
	})
	if err != nil {
		a.logger.Error("partition offline: cannot open its log", zap.Error(err))
		panic(fmt.Errorf("%w: open log: %w", errPartitionUnusable, err))
	}
	a.log = log
	if a.node.cfg.GroupCommit {
		a.committer = logstore.NewGroupCommitter(log, 4096, a.logger)
	}
	a.core = cluster.NewReplica(cfg.Replica, cluster.ReplicaState{
		LeaderEpoch: a.leaderEpoch, LogStartOffset: log.LogStartOffset(),
		LogEndOffset: log.LogEndOffset(), FlushedOffset: log.FlushedOffset(),
	}, a.node.cfg.NodeID)
	labels := partitionLabels(a.topic, a.partition)
	a.bytesIn = a.node.metrics.topicBytesIn.WithLabelValues(a.topic)
	a.bytesOut = a.node.metrics.topicBytesOut.WithLabelValues(a.topic)
	a.endOffsetGauge = a.node.metrics.logEndOffset.WithLabelValues(labels...)
	a.sizeGauge = a.node.metrics.logSizeBytes.WithLabelValues(labels...)
	a.self = ctx.Self()
	self, root := a.self, a.node.system.Root
	a.timer = time.AfterFunc(housekeepingInterval, func() { root.Send(self, &partitionTick{}) })
	a.publishGauges()
}

func (a *partitionActor) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.committer != nil {
		a.committer.Close()
	}
	if a.log != nil {
		if err := a.log.Close(); err != nil {
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
	if _, exists := a.node.routes.load().image.Topic(a.topic); !exists {
		// Deleted topic: its series go too.
		labels := partitionLabels(a.topic, a.partition)
		a.node.metrics.logEndOffset.DeleteLabelValues(labels...)
		a.node.metrics.logSizeBytes.DeleteLabelValues(labels...)
		a.node.metrics.topicBytesIn.DeleteLabelValues(a.topic)
		a.node.metrics.topicBytesOut.DeleteLabelValues(a.topic)
	}
	// Whoever still waits is told the partition is gone.
	for id, reply := range a.produces {
		reply(producePartitionResult{errorCode: kerr.NotLeaderForPartition.Code, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1})
		delete(a.produces, id)
	}
	for id, w := range a.watches {
		w.notify()
		delete(a.watches, id)
	}
}

func (a *partitionActor) produce(msg *producePartition) {
	a.nextID++
	id := a.nextID
	if msg.reply != nil {
		a.produces[id] = msg.reply
	}
	a.core.Produce(id, msg.records, msg.acks, msg.timeoutMs, time.Now().UnixMilli())
	a.bytesIn.Add(float64(len(msg.records)))
}

func (a *partitionActor) fetch(msg *fetchPartition) {
	fb := a.core.Fetch(msg.fetchOffset, msg.currentLeaderEpoch)
	res := fetchPartitionResult{errorCode: fb.ErrorCode, highWatermark: fb.HighWatermark, lastStableOffset: fb.LastStableOffset, logStartOffset: fb.LogStartOffset}
	if fb.ErrorCode == 0 && fb.Readable {
		recs, err := a.log.Read(msg.fetchOffset, int64(max(msg.maxBytes, 1)), fb.UpToOffset)
		switch {
		case errors.Is(err, kerr.OffsetOutOfRange):
			res.errorCode = kerr.OffsetOutOfRange.Code
		case errors.Is(err, logstore.ErrCorruption):
			// Corruption is not cured by a retry: answer, then stop the
			// actor (the supervisor marks the partition offline).
			msg.reply(fetchPartitionResult{errorCode: kerr.KafkaStorageError.Code, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1})
			a.logger.Error("partition offline: corrupt log", zap.Int64("offset", msg.fetchOffset), zap.Error(err))
			panic(err)
		case err != nil:
			a.logger.Error("read log", zap.Int64("offset", msg.fetchOffset), zap.Error(err))
			res.errorCode = kerr.KafkaStorageError.Code
		default:
			res.records, res.bytesOut = recs, a.bytesOut
		}
	}
	msg.reply(res)
}

// carryOut performs the core's effects: appends, replies, wake-ups.
func (a *partitionActor) carryOut(ctx actor.Context) {
	if a.core == nil {
		return
	}
	for {
		rd := a.core.Ready()
		if len(rd.Appends) == 0 && len(rd.ProduceReplies) == 0 && len(rd.Woken) == 0 {
			break
		}
		for _, ap := range rd.Appends {
			a.append(ap)
		}
		for _, rep := range rd.ProduceReplies {
			if reply, ok := a.produces[rep.ID]; ok {
				delete(a.produces, rep.ID)
				reply(producePartitionResult{errorCode: rep.ErrorCode, errorMessage: rep.ErrorMessage, baseOffset: rep.BaseOffset, logAppendTimeMs: rep.LogAppendTimeMs, logStartOffset: rep.LogStartOffset})
			}
		}
		for _, w := range rd.Woken {
			if watch, ok := a.watches[w.ID]; ok {
				delete(a.watches, w.ID)
				switch {
				case w.Expired:
				case watch.read != nil:
					// Read now, for the fetch that waits: it answers
					// without a second round trip to this actor.
					a.fetch(watch.read)
				default:
					watch.notify()
				}
			}
		}
	}
	a.armTimer(ctx)
}

func (a *partitionActor) append(ap cluster.AppendBatches) {
	nowMs := time.Now().UnixMilli()
	res, err := a.log.Append(ap.Batches, a.leaderEpoch, nowMs)
	if err != nil {
		a.logger.Warn("append failed", zap.Error(err))
		a.core.AppendCompleted(ap.ID, -1, a.log.LogEndOffset(), err)
		return
	}
	a.core.AppendCompleted(ap.ID, res.BaseOffsets[0], res.LogEndOffset, nil)
	a.core.Flushed(a.log.FlushedOffset())
	if a.committer != nil {
		self, root := a.self, a.node.system.Root
		leo := res.LogEndOffset
		a.committer.NotifyWhenDurable(leo, func(err error) { root.Send(self, &durableUpTo{offset: leo, err: err}) })
	}
	a.endOffsetGauge.Set(float64(res.LogEndOffset))
}

func (a *partitionActor) durable(msg *durableUpTo) {
	if msg.err != nil {
		if !errors.Is(msg.err, logstore.ErrGroupCommitterClosed) {
			a.logger.Error("fsync failed", zap.Error(msg.err))
		}
		return
	}
	a.core.Flushed(max(msg.offset, a.log.FlushedOffset()))
}

func (a *partitionActor) tick() {
	a.tickAt = time.Time{} // the armed tick fired; carryOut arms the next
	nowMs := time.Now().UnixMilli()
	a.core.Tick(nowMs)
	if err := a.log.Tick(nowMs); err != nil {
		a.logger.Error("log housekeeping", zap.Error(err))
	}
	a.core.Flushed(a.log.FlushedOffset())
	if nowMs-a.lastRetentionMs >= a.node.retentionCheckIntervalMs() {
		a.lastRetentionMs = nowMs
		if n, err := a.log.DeleteRetainedSegments(nowMs); err != nil {
			a.logger.Error("retention", zap.Error(err))
		} else if n > 0 {
			a.core.LogStartAdvanced(a.log.LogStartOffset())
			a.logger.Info("segments deleted by retention", zap.Int("segments", n), zap.Int64("log_start_offset", a.log.LogStartOffset()))
		}
		a.planClean(nowMs)
		a.publishGauges()
	}
}

// cleanFinished is the node cleaner's answer for a partition's job.
type cleanFinished struct {
	job *logstore.CleanJob
	err error
}

// cleanerStopWait bounds how long a stopping partition waits for its
// running compaction to notice the closed log.
const cleanerStopWait = 10 * time.Second

// planClean hands the log to the node's cleaner when compaction is due.
func (a *partitionActor) planClean(nowMs int64) {
	if a.cleaning != nil || a.node.cfg.DisableLogCleaner {
		return
	}
	job, ok := a.log.PlanClean(nowMs, a.core.HighWatermark())
	if !ok {
		return
	}
	self, root := a.self, a.node.system.Root
	done, ok := a.node.cleaner.submit(job, func(err error) { root.Send(self, &cleanFinished{job: job, err: err}) })
	if !ok {
		job.Abandon()
		return
	}
	a.cleaning, a.cleaningDone = job, done
}

// cleanFinished commits a job that ran, or gives it up.
func (a *partitionActor) cleanFinished(msg *cleanFinished) {
	if msg.job != a.cleaning {
		return // a job of a log this actor closed since
	}
	a.cleaning, a.cleaningDone = nil, nil
	if msg.err != nil {
		msg.job.Abandon()
		if !errors.Is(msg.err, context.Canceled) {
			a.logger.Error("compaction failed", zap.Error(msg.err))
		}
		return
	}
	if err := a.log.CommitClean(msg.job); err != nil {
		a.logger.Error("compaction commit failed", zap.Error(err))
		return
	}
	st := msg.job.Stats()
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

// defaultRetentionCheckIntervalMs is Kafka's log.retention.check.interval.ms.
const defaultRetentionCheckIntervalMs = 300_000

func (n *Node) retentionCheckIntervalMs() int64 {
	if n.cfg.RetentionCheckIntervalMs > 0 {
		return n.cfg.RetentionCheckIntervalMs
	}
	return defaultRetentionCheckIntervalMs
}

// armTimer schedules the next tick at the core's earliest deadline or one
// housekeeping interval from now, whichever comes first. It only ever moves
// an armed tick earlier: postponing it on every message would starve
// housekeeping (retention, flush.ms, compaction) on a busy partition.
func (a *partitionActor) armTimer(ctx actor.Context) {
	at := time.Now().Add(housekeepingInterval)
	if next := a.core.NextDeadlineMs(); next != 1<<63-1 {
		if deadline := time.UnixMilli(next).Add(time.Millisecond); deadline.Before(at) {
			at = deadline
		}
	}
	if !a.tickAt.IsZero() && !at.Before(a.tickAt) {
		return
	}
	a.tickAt = at
	a.timer.Reset(max(time.Until(at), time.Millisecond))
}

func (a *partitionActor) publishGauges() {
	a.endOffsetGauge.Set(float64(a.log.LogEndOffset()))
	a.sizeGauge.Set(float64(a.log.SizeBytes()))
}

func (a *partitionActor) listOffsets(msg *listOffsetsPartition) listOffsetsResult {
	res := listOffsetsResult{timestampMs: -1, offset: -1, leaderEpoch: a.leaderEpoch}
	if off, lookup := a.core.ListOffset(msg.timestampMs); !lookup {
		res.offset = off
		return res
	}
	var to logstore.TimestampOffset
	var found bool
	var err error
	switch {
	case msg.timestampMs == -5 || msg.timestampMs == -6:
		// Latest tiered and earliest pending upload: nothing is tiered, so
		// there is no such offset, as Kafka answers without remote storage.
		res.leaderEpoch = -1
		return res
	case msg.timestampMs == -3:
		to, found, err = a.log.OffsetOfMaxTimestamp()
	case msg.timestampMs >= 0:
		to, found, err = a.log.OffsetForTimestamp(msg.timestampMs)
	default:
		res.errorCode = kerr.InvalidRequest.Code
		return res
	}
	if err != nil {
		a.logger.Error("offset lookup by timestamp", zap.Error(err))
		res.errorCode = kerr.KafkaStorageError.Code
		return res
	}
	if found && to.Offset < a.core.HighWatermark() {
		res.offset, res.timestampMs = to.Offset, to.TimestampMs
	}
	return res
}

func (a *partitionActor) deleteRecords(msg *deleteRecordsPartition) deleteRecordsResult {
	offset, code := a.core.DeleteRecordsOffset(msg.offset)
	if code != 0 {
		return deleteRecordsResult{errorCode: code, lowWatermark: -1}
	}
	if err := a.log.AdvanceLogStartOffset(offset); err != nil {
		a.logger.Error("advance log start offset", zap.Int64("offset", offset), zap.Error(err))
		return deleteRecordsResult{errorCode: kerr.KafkaStorageError.Code, lowWatermark: -1}
	}
	a.core.LogStartAdvanced(a.log.LogStartOffset())
	return deleteRecordsResult{lowWatermark: a.log.LogStartOffset()}
}

func (a *partitionActor) applyConfigs(settings cluster.TopicSettings) {
	a.settings = settings
	if err := a.log.SetConfig(settings.Log); err != nil {
		a.logger.Error("topic configs not applied to the log", zap.Error(err))
	}
	a.core.SetConfig(settings.Replica)
}

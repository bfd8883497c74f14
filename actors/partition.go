package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// errPartitionUnusable marks a failure after which restarting the partition
// actor cannot help (the supervisor stops it: the partition goes offline).
var errPartitionUnusable = errors.New("partition unusable")

// partitionTick wakes a partition actor at its core's next deadline.
type partitionTick struct{}

// durableUpTo reports that the group committer's fsync of log covers offset.
type durableUpTo struct {
	log    *logstore.Log
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
	// fetchers is the node's fetcher manager, to which a follower hands
	// its fetch state.
	fetchers *actor.PID
	// ineligible are the brokers that may join no ISR (fenced or in
	// controlled shutdown), in id order.
	ineligible []int32
	// brokerEpochs are the registered brokers' epochs in the image that
	// gave ineligible (read only: shared by every partition).
	brokerEpochs map[int32]int64
	// truncateOnFetch says the follower truncates on fetch
	// (Node.truncateOnFetch).
	truncateOnFetch bool
	// preload is the log opened for the partition while the broker
	// caught up with the metadata log, nil for none.
	preload *logPreload
	// retired is set by the replica manager before it stops a replica
	// whose data it deletes next: the log closes without a flush.
	retired *atomic.Bool
	// board is the fetch board made with the actor's mailbox, which
	// counts its queued messages (fetch_board.go); nil: the actor makes
	// one, whose view no Fetch reads.
	board *fetchBoard
}

// cleanFinished is the node cleaner's answer for a partition's job.
type cleanFinished struct {
	job *logstore.CleanJob
	err error
}

// partitionActor is the thin shell around one partition's replica core
// (cluster.Replica): it owns the log, feeds the core every request, storage
// completion and tick, and carries out what the core's Ready lists.
type partitionActor struct {
	node     *Node
	assigned partitionAssignment
	logger   *zap.Logger

	log       *logstore.Log
	committer *logstore.GroupCommitter
	core      *cluster.Replica
	self      *actor.PID
	// board is where the actor publishes its fetch view and wakes the
	// Fetches parked on it (fetch_board.go).
	board *fetchBoard
	// incarnation tells this start of the actor from the others: its
	// follower's fetch states and their outcomes carry it.
	incarnation uint64
	// route is what this incarnation told the fetcher manager
	// (publishFetchState).
	route  fetchRoute
	nextID cluster.RequestID
	// waiting holds the request messages the core owes an answer.
	waiting map[cluster.RequestID]any
	// timer fires partitionTick at tickAtMs (monotonic) when tickArmed.
	timer     *time.Timer
	tickAtMs  int64
	tickArmed bool
	// cleaning is the compaction job handed to the node's cleaner, if any;
	// cleaningDone closes when its Run has returned.
	cleaning     *logstore.CleanJob
	cleaningDone <-chan struct{}
	// highWatermark is where the partition publishes its high watermark
	// for the node's checkpoint.
	highWatermark *atomic.Int64
	// producing holds the produces being handled, whose appends may hand
	// their requests' frames to the log (partition_storage.go).
	producing producingSet
	// alterCall is the AlterPartition on its way to the controller, if
	// any (partition_replication.go).
	alterCall *controllerCall
	// appendFailures throttles the warnings of failing appends.
	appendFailures appendFailureLog
	// producers tells whether the partition's produces come from one
	// producer or several (takeBatch).
	producers producerMix

	// The partition's metrics, looked up once.
	bytesIn, bytesOut         prometheus.Counter
	endOffsetGauge, sizeGauge prometheus.Gauge
}

func newPartitionActor(n *Node, pa partitionAssignment) *partitionActor {
	return &partitionActor{node: n, assigned: pa,
		logger: n.logger.With(zap.String("topic", pa.topic), zap.Int32("partition", pa.image.Partition))}
}

// Receive implements actor.Actor.
func (a *partitionActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *producePartition:
		a.startProduce(msg, a.node.cfg.Clock.Now())
		// The append (or the refusal) happens in this carryOut; after it
		// nothing reads the records, so the request's frame goes back,
		// unless the log holds it for the followers (partition_storage.go).
		a.carryOut()
		a.releaseProducing()
		return
	case *produceBatch:
		a.produceAll(a.takeBatch(msg))
		return
	case *txnVerified:
		a.core.TxnVerified(msg.id, msg.code, a.node.cfg.Clock.Now())
	case *txnPartitionAdded:
		a.core.TxnPartitionAdded(msg.producerID, msg.producerEpoch)
	case *fetchPartition:
		a.core.Fetch(a.await(msg, true), fetchPartitionOf(msg), cluster.IsolationLevel(msg.isolationLevel))
	case *watchPartition:
		a.core.Watch(a.await(msg, true), cluster.Watch{Partition: fetchPartitionOf(&msg.fetch),
			Isolation: cluster.IsolationLevel(msg.fetch.isolationLevel), DeadlineMs: msg.deadlineMs, ReadOnWake: msg.readOnWake, WaitPast: msg.waitPast,
			Fetcher: msg.fetcher})
	case *listOffsetsPartition:
		a.core.ListOffsets(a.await(msg, true), cluster.ListOffsetsRequest{TimestampMs: msg.timestampMs,
			CurrentLeaderEpoch: msg.currentLeaderEpoch, IsolationLevel: cluster.IsolationLevel(msg.isolationLevel)})
	case *deleteRecordsPartition:
		a.core.DeleteRecords(a.await(msg, true), msg.offset, msg.timeoutMs, a.node.cfg.Clock.Now())
	case *logDirPartition:
		msg.reply(a.log.SizeBytes())
		return
	case *describeProducersPartition:
		a.describeProducers(msg)
		return
	case *durableUpTo:
		a.durable(msg)
	case *topicConfigsChanged:
		a.core.SetConfig(msg.settings)
	case *isrEligibilityChanged:
		a.core.SetIneligibleReplicas(msg.ineligible, msg.brokerEpochs, a.node.cfg.Clock.Now())
	case *fetchStateWanted:
		if a.core != nil {
			a.publishFetchState(a.core.FetchState(), true)
		}
		return
	case *truncateOnFetchChanged:
		a.core.SetTruncateOnFetch(msg.on)
	case *partitionChanged:
		a.core.PartitionChanged(msg.image, a.node.cfg.Clock.Now())
	case *leaderAnswered:
		a.leaderAnswered(msg)
		// The follower's append happens in this carryOut; after it nothing
		// reads the records, so the fetch response's frame goes back.
		a.carryOut()
		msg.releaseRecords()
		return
	case *epochEndPartition:
		a.core.OffsetForLeaderEpoch(a.await(msg, true), msg.req)
	case *alterPartitionAnswered:
		a.core.AlterPartitionCompleted(msg.result, a.node.cfg.Clock.Now())
	case *partitionTick:
		a.tickArmed = false // carryOut arms the next
		a.core.Tick(a.node.cfg.Clock.Now())
	case *cleanFinished:
		if msg.job != a.cleaning {
			return // a job of a log this actor closed since
		}
		if msg.err != nil && !errors.Is(msg.err, context.Canceled) {
			a.logger.Error("compaction failed", zap.Error(msg.err))
		}
		a.core.CompactionFinished(msg.err)
	case *actor.Stopping:
		a.stop(true)
		return
	case *actor.Restarting:
		a.stop(false)
		return
	case *actor.Stopped:
		return
	default:
		// Only the messages above are ever sent here: anything else is a
		// bug, and supervision restarts the actor.
		panic(fmt.Sprintf("partition actor %s-%d: unexpected message %T", a.assigned.topic, a.assigned.image.Partition, msg))
	}
	a.carryOut()
}

// await names a request to the core, remembering the message when the core
// will answer it.
func (a *partitionActor) await(msg any, answered bool) cluster.RequestID {
	a.nextID++
	if answered {
		a.waiting[a.nextID] = msg
	}
	return a.nextID
}

func fetchPartitionOf(msg *fetchPartition) cluster.FetchPartition {
	return cluster.FetchPartition{FetchOffset: msg.fetchOffset, PartitionMaxBytes: msg.maxBytes, CurrentLeaderEpoch: msg.currentLeaderEpoch,
		Follower: msg.follower, ToLogEnd: msg.toLogEnd}
}

// durable takes the group committer's report; a report for a log this actor
// closed since (a restart) is dropped.
func (a *partitionActor) durable(msg *durableUpTo) {
	if msg.log != a.log {
		return
	}
	if msg.err != nil {
		if !errors.Is(msg.err, logstore.ErrGroupCommitterClosed) {
			a.logger.Error("fsync failed", zap.Error(msg.err))
		}
		return
	}
	a.core.Flushed(max(msg.offset, a.log.FlushedOffset()))
}

// armTimer schedules the next tick at the core's next deadline. It only ever
// moves an armed tick earlier; the core schedules housekeeping from when it
// last ran, so no stream of messages postpones it.
func (a *partitionActor) armTimer() {
	next := a.core.NextDeadlineMs()
	if a.tickArmed && next >= a.tickAtMs {
		return
	}
	a.tickAtMs, a.tickArmed = next, true
	delay := time.Duration(max(next-a.node.cfg.Clock.Now().MonoMs, 0)) * time.Millisecond
	if a.timer == nil {
		self, root := a.self, a.node.system.Root
		a.timer = time.AfterFunc(delay, func() { root.Send(self, &partitionTick{}) })
		return
	}
	a.timer.Reset(delay)
}

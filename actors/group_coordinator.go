package actors

import (
	"fmt"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/groups"
	"gregor/logstore/internaltopic"
)

// groupRequest carries a group request to the coordinator of its group.
// Its byte fields are the router's copies: the coordinator keeps them.
type groupRequest struct {
	body    kmsg.Request
	client  groups.Client
	respond func(kmsg.Response)
	// inline: the coordinator handles it on its sender's goroutine (the
	// connection's reader) if it finds the coordinator idle.
	inline bool
}

// runsInline implements inlineMessage.
func (m *groupRequest) runsInline() bool { return m.inline }

// answerUndelivered answers a group request that reached no coordinator (it
// stopped): its groups are coordinated elsewhere now.
func (m *groupRequest) answerUndelivered() {
	m.respond(groups.ErrorResponse(m.body, kerr.NotCoordinator.Code))
}

// groupLoadRead is a partition read the coordinator asked for while loading.
type groupLoadRead struct{ res fetchPartitionResult }

// groupAppended reports the partition's answer to a coordinator's batch of
// appends.
type groupAppended struct {
	ids  []internaltopic.AppendID
	code int16
}

// runsInline implements inlineMessage: an idle coordinator takes the
// partition's answer on the goroutine that gave it, and answers the
// commits it acknowledges there. On one node that goroutine runs the
// coordinator already (the answer waits in its mailbox); with followers it
// is the reader of the Fetch that moved the high watermark past the batch,
// which otherwise woke a worker for the coordinator on every commit.
func (*groupAppended) runsInline() bool { return true }

// groupTick wakes a coordinator at its core's next deadline (or to retry
// its load).
type groupTick struct{}

// groupShutdown tells a coordinator the node is stopping.
type groupShutdown struct{}

// groupSnapshot asks a coordinator for its groups and committed offsets
// (metrics); it answers with a *groupSnapshotResult.
type groupSnapshot struct{}

type groupSnapshotResult struct {
	groups  []groups.GroupSummary
	offsets []groups.CommittedOffset
}

// loadReadBytes is how much one read of the partition asks for at load.
const loadReadBytes = 8 << 20

// loadRetryDelay is how long a coordinator waits before reading its
// partition again after a failed read.
const loadRetryDelay = 100 * time.Millisecond

// groupCoordinator is the thin shell around one __consumer_offsets
// partition's groups.Coordinator: it loads the partition through the
// partition actor, feeds the core every request, append outcome and tick,
// appends the core's records through the partition actor (acks=all) and
// sends its replies.
type groupCoordinator struct {
	g            *groupNode
	partition    int32
	partitionPID *actor.PID
	logger       *zap.Logger

	core *groups.Coordinator
	self *actor.PID
	// waiting holds the requests the core owes an answer.
	waiting map[internaltopic.RequestID]*groupRequest
	nextID  internaltopic.RequestID
	// loadOffset is where the load reads next; reading, whether a read
	// is in flight.
	loadOffset int64
	reading    bool
	// topicsEpoch is the metadata image epoch the core's topics are from.
	topicsEpoch int64
	// rebalances is how many of the core's rebalances the metrics count.
	rebalances int64
	// appending are the core's appends in the batch the partition is
	// writing (nil: none); queued wait for it to finish, then go as one
	// batch, so a busy coordinator writes many commits at once.
	appending []internaltopic.AppendID
	queued    []groups.Append
	// merged are the plain appends of the batch being written; alone
	// counts the queued appends that go one per batch after a merged
	// batch was refused for its size.
	merged []groups.Append
	alone  int
	// parts counts the parts not yet written of each splittable append
	// split because the partition refused it for its size
	// (group_appends.go).
	parts map[internaltopic.AppendID]int
	// closing is set once the node stops: every request is answered
	// NOT_COORDINATOR.
	closing bool
	// ticks sends groupTick at the core's next deadline.
	ticks tickTimer
	// gate holds requests and ticks while the broker lease has lapsed
	// (group_lease_hold.go); leaseCheckArmed says a groupLeaseCheck is on
	// its way.
	gate            groups.LeaseGate[*groupRequest]
	leaseCheckArmed bool
	leaseTimer      *time.Timer
}

func newGroupCoordinator(g *groupNode, partition int32, partitionPID *actor.PID) *groupCoordinator {
	return &groupCoordinator{g: g, partition: partition, partitionPID: partitionPID,
		logger: g.logger.With(zap.Int32("partition", partition))}
}

// Receive implements actor.Actor.
func (a *groupCoordinator) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self, a.waiting, a.topicsEpoch = ctx.Self(), map[internaltopic.RequestID]*groupRequest{}, -1
		a.gate.HoldMs = a.g.cfg.LeaseHoldMs
		a.core = groups.NewCoordinator(a.g.cfg.coreConfig(a.g.n))
		a.readPartition()
		return
	case *groupLoadRead:
		a.loadRead(msg.res)
	case *groupRequest:
		if a.closing {
			msg.answerUndelivered()
			return
		}
		a.admit(msg)
	case *groupLeaseCheck:
		a.gateCheck()
	case *groupAppended:
		a.appended(msg)
	case *groupTick:
		a.ticks.fired()
		if a.core.Loading() {
			if !a.reading {
				a.readPartition()
			}
			return
		}
		a.gateTick()
	case *groupTxnMarker:
		a.core.TransactionMarker(msg.producerID, msg.commit)
	case *groupShutdown:
		a.closing = true
		a.answerWaiting()
		return
	case *groupSnapshot:
		ctx.Respond(&groupSnapshotResult{groups: a.core.Groups(), offsets: a.core.CommittedOffsets()})
		return
	case *actor.Stopping, *actor.Restarting:
		a.stop()
		return
	case *actor.Stopped:
		return
	default:
		panic(fmt.Sprintf("group coordinator %d: unexpected message %T", a.partition, msg))
	}
	a.carryOut()
}

// handle hands a request to the core.
func (a *groupCoordinator) handle(msg *groupRequest) {
	a.refreshTopics()
	a.nextID++
	a.waiting[a.nextID] = msg
	a.core.Handle(a.nextID, msg.body, msg.client, a.now())
}

func (a *groupCoordinator) now() internaltopic.Time { return a.g.now() }

// refreshTopics tells the core the topics of the published image when it
// changed since it was last told.
func (a *groupCoordinator) refreshTopics() {
	img := a.g.n.routes.load().image
	if img.Epoch == a.topicsEpoch {
		return
	}
	a.topicsEpoch = img.Epoch
	var topics []groups.Topic
	for t := range img.Topics() {
		topics = append(topics, groups.Topic{Name: t.Name, ID: t.ID, Partitions: t.PartitionCount()})
	}
	a.core.SetTopics(topics, a.now())
}

// carryOut appends the core's records and sends its replies (the core
// holds each until the records before it are acknowledged) until it has
// none left, then arms the next tick. A core that reverted after a failed
// append is replaced by one loaded from the partition.
func (a *groupCoordinator) carryOut() {
	for {
		rd := a.core.Ready()
		if rd.Empty() {
			break
		}
		a.queued = append(a.queued, rd.Appends...)
		for _, r := range rd.Replies {
			if req := a.waiting[r.ID]; req != nil {
				delete(a.waiting, r.ID)
				req.respond(r.Response)
			}
		}
		if rd.Reload {
			a.reload()
		}
	}
	a.flushAppends()
	if n := a.core.Rebalances(); n > a.rebalances {
		a.g.metrics.rebalances.Add(float64(n - a.rebalances))
		a.rebalances = n
	}
	a.armTimer()
}

// armTimer schedules the next tick at the core's next deadline, only ever
// moving an armed tick earlier (none while the lease gate holds a tick: its
// lease check releases it).
func (a *groupCoordinator) armTimer() {
	next := a.core.NextDeadlineMs()
	if a.core.Loading() || a.gate.Holding() || next == math.MaxInt64 {
		return
	}
	a.ticks.armAt(next, a.g.n.cfg.Clock.Now().MonoMs, a.sendTick)
}

// sendTick sends the actor a groupTick (from a timer).
func (a *groupCoordinator) sendTick() { a.g.n.system.Root.Send(a.self, &groupTick{}) }

// stop answers every request still waiting: this node no longer
// coordinates their groups (or will after it restarts and reloads).
func (a *groupCoordinator) stop() {
	a.ticks.stop()
	if a.leaseTimer != nil {
		a.leaseTimer.Stop()
	}
	a.answerWaiting()
}

// answerWaiting answers NOT_COORDINATOR to every request the core still
// owes an answer; the core's later replies to them are dropped.
func (a *groupCoordinator) answerWaiting() {
	a.answerHeld()
	for id, req := range a.waiting {
		req.answerUndelivered()
		delete(a.waiting, id)
	}
}

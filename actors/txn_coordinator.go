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
	"gregor/txn"
)

// txnRequest carries a transaction request to the coordinator of its
// transactional id; or, with answerAdd set (and no body), stands for a
// partition leader's add handed to the core (handleAdd), answered with
// the core's code.
type txnRequest struct {
	body      kmsg.Request
	respond   func(kmsg.Response)
	answerAdd func(code int16)
	// inline: an idle coordinator handles it on its sender's goroutine,
	// the connection's reader (txnNode.runsOnReader).
	inline bool
}

// runsInline implements inlineMessage.
func (m *txnRequest) runsInline() bool { return m.inline }

// answerUndelivered answers a request that reached no coordinator (it
// stopped): its transactional ids are coordinated elsewhere now.
func (m *txnRequest) answerUndelivered() {
	if m.answerAdd != nil {
		m.answerAdd(kerr.NotCoordinator.Code)
		return
	}
	m.respond(txn.ErrorResponse(m.body, kerr.NotCoordinator.Code))
}

// answer gives the request the core's reply.
func (m *txnRequest) answer(r txn.Reply) {
	if m.answerAdd != nil {
		m.answerAdd(r.Code)
		return
	}
	m.respond(r.Response)
}

// Messages of a transaction coordinator actor.
type (
	txnLoadRead struct{ res fetchPartitionResult }
	txnAppended struct {
		batch *txn.AppendBatch
		code  int16
	}
	txnAllocated struct {
		id   txn.AllocID
		pid  int64
		code int16
	}
	txnTick     struct{}
	txnShutdown struct{}
)

// txnCoordinator is the thin shell around one __transaction_state
// partition's txn.Coordinator: it loads the partition through the
// partition actor, feeds the core every request, append outcome, producer
// id, marker outcome and tick, and carries out what the core asks
// (appends through the partition actor with acks=all, producer ids from
// the node's block, markers to partition leaders) and its replies.
type txnCoordinator struct {
	x            *txnNode
	partition    int32
	epoch        int32
	partitionPID *actor.PID
	logger       *zap.Logger

	core       *txn.Coordinator
	self       *actor.PID
	waiting    map[internaltopic.RequestID]*txnRequest
	nextID     internaltopic.RequestID
	loadOffset int64
	// appends are the core's appends to the partition: batched, in
	// flight, their outcomes in the order sent (txn_coordinator_appends.go).
	appends *txn.AppendWindow
	// asks are partitions' asks gathered until flushQueued's
	// txnFlushAsks arrives (txn_coordinator_asks.go).
	asks        []txnAsk
	flushQueued bool
	closing     bool
	// ticks sends txnTick at the core's next deadline.
	ticks tickTimer
	// gate holds requests, asks and ticks while the broker lease has
	// lapsed (txn_lease_hold.go); leaseCheckArmed says a txnLeaseCheck is
	// on its way on leaseTimer.
	gate            groups.LeaseGate[txnHeld]
	leaseCheckArmed bool
	leaseTimer      *time.Timer
	// topicsEpoch is the epoch of the image whose topics the core was
	// told (-1: none yet).
	topicsEpoch int64
	// markerOutcomes takes the outcomes of local markers that come while
	// carryOut runs their appends.
	markerOutcomes markerOutcomes
}

func newTxnCoordinator(x *txnNode, partition, epoch int32, partitionPID *actor.PID) *txnCoordinator {
	return &txnCoordinator{x: x, partition: partition, epoch: epoch, partitionPID: partitionPID, topicsEpoch: -1,
		appends: txn.NewAppendWindow(coordinatorAppendsInFlight), logger: x.logger.With(zap.Int32("partition", partition), zap.Int32("coordinator_epoch", epoch))}
}

// Receive implements actor.Actor.
func (a *txnCoordinator) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.self, a.waiting = ctx.Self(), map[internaltopic.RequestID]*txnRequest{}
		a.gate.HoldMs = a.x.cfg.LeaseHoldMs
		a.core = txn.NewCoordinator(a.x.cfg.coreConfig(a.x.n, a.epoch))
		a.readPartition()
		return
	case *txnLoadRead:
		a.loadRead(msg.res)
	case *txnRequest:
		a.admit(msg)
	case *txnLocalAsk:
		a.admit(msg)
	case *txnLeaseCheck:
		a.gateCheck()
	case *txnFlushAsks:
		a.flushAsks()
	case *txnAppended:
		a.appended(msg.batch, msg.code)
	case *txnAllocated:
		a.core.ProducerIDAllocated(msg.id, msg.pid, msg.code, a.now())
	case *txnMarkersWritten:
		for _, r := range msg.results {
			a.core.MarkerWritten(r.marker, r.code, a.now())
		}
	case *txnTick:
		a.ticks.fired()
		if a.core.Loading() {
			a.readPartition()
			return
		}
		a.gateTick()
	case *txnShutdown:
		a.closing = true
		a.answerWaiting()
		return
	case *actor.Stopping, *actor.Restarting:
		a.stopTimers()
		a.answerWaiting()
		return
	case *actor.Stopped:
		return
	default:
		panic(fmt.Sprintf("transaction coordinator %d: unexpected message %T", a.partition, msg))
	}
	a.carryOut()
}

// handle hands the core a request.
func (a *txnCoordinator) handle(req *txnRequest) {
	a.refreshTopics()
	a.nextID++
	a.waiting[a.nextID] = req
	a.core.Handle(a.nextID, req.body, a.now())
}

// refreshTopics tells the core the partition counts of the published
// image's topics when it changed since it was last told (it vouches only
// for partitions it can write markers to: txn.Coordinator.SetTopics).
func (a *txnCoordinator) refreshTopics() {
	img := a.x.n.routes.load().image
	if img.Epoch == a.topicsEpoch {
		return
	}
	a.topicsEpoch = img.Epoch
	a.core.SetTopics(img.PartitionCounts())
}

func (a *txnCoordinator) now() internaltopic.Time { return a.x.now() }

// readPartition asks the partition for its records from loadOffset on.
func (a *txnCoordinator) readPartition() {
	self, root := a.self, a.x.n.system.Root
	root.Send(a.partitionPID, &fetchPartition{fetchOffset: a.loadOffset, maxBytes: loadReadBytes, currentLeaderEpoch: -1, toLogEnd: true,
		reply: func(res fetchPartitionResult) { root.Send(self, &txnLoadRead{res: res}) }})
}

// loadRead replays one read of the partition and reads on, until the log
// end offset (a read with no records): then the coordinator serves. The
// partition's new leader may not have advanced its high watermark to what
// its predecessor acknowledged yet; its log holds it, and so does the
// coordinator's state (Kafka's coordinators load to the log end too).
func (a *txnCoordinator) loadRead(res fetchPartitionResult) {
	next, step, err := loadStep(a.core, res, a.loadOffset)
	if err != nil {
		panic(fmt.Errorf("transaction coordinator %d: load: %w", a.partition, err))
	}
	a.loadOffset = next
	switch step {
	case loadReadMore:
		a.readPartition()
		return
	case loadRetry:
		a.logger.Warn("transaction coordinator load: partition read failed, retrying", zap.String("error", kerr.ErrorForCode(res.errorCode).Error()))
		a.ticks.retryAfter(loadRetryDelay, a.sendTick)
		return
	}
	a.core.Loaded(a.now())
	a.logger.Info("transaction coordinator loaded", zap.Int("records", a.core.LoadedRecords()), zap.Int64("high_watermark", res.highWatermark), zap.Int64("loaded_to", a.loadOffset))
}

// carryOut does what the core asks until it has nothing left, then arms
// the next tick.
func (a *txnCoordinator) carryOut() {
	for {
		runs := newInlineRuns()
		for {
			rd := a.core.Ready()
			if rd.Empty() {
				break
			}
			for _, id := range rd.Allocs {
				a.allocate(id)
			}
			a.appends.Queue(rd.Appends...)
			// Before the markers and replies: a marker ends what was added.
			a.x.partitionsAdded(rd.Added, runs)
			if len(rd.Markers) > 0 {
				a.writeMarkers(rd.Markers, runs)
			}
			for _, r := range rd.Replies {
				if req := a.waiting[r.ID]; req != nil {
					delete(a.waiting, r.ID)
					req.answer(r)
				}
			}
		}
		// The markers' appends, after the answers; the outcomes of those
		// that ran here go to the core now (markerOutcomes).
		a.markerOutcomes.open()
		runs.run()
		written := a.markerOutcomes.close()
		if len(written) == 0 {
			break
		}
		for _, r := range written {
			a.core.MarkerWritten(r.marker, r.code, a.now())
		}
	}
	a.flushAppends()
	a.armTimer()
}

// allocate asks the node for a producer id for the core.
func (a *txnCoordinator) allocate(id txn.AllocID) {
	self, root := a.self, a.x.n.system.Root
	a.x.n.allocateProducerID(func(pid int64, err error) {
		code := int16(0)
		if err != nil {
			code = kerr.CoordinatorLoadInProgress.Code // the controller is away: the client retries
		}
		root.Send(self, &txnAllocated{id: id, pid: pid, code: code})
	})
}

// armTimer schedules the next tick at the core's next deadline, only ever
// moving an armed tick earlier (none while the lease gate holds a tick: its
// lease check releases it).
func (a *txnCoordinator) armTimer() {
	next := a.core.NextDeadlineMs()
	if a.core.Loading() || a.gate.Holding() || next == math.MaxInt64 {
		return
	}
	a.ticks.armAt(next, a.x.n.cfg.Clock.Now().MonoMs, a.sendTick)
}

// sendTick sends the actor a txnTick (from a timer).
func (a *txnCoordinator) sendTick() { a.x.n.system.Root.Send(a.self, &txnTick{}) }

// answerWaiting answers NOT_COORDINATOR to every request the core still
// owes an answer, or the lease gate holds; the core's later replies to
// them are dropped.
func (a *txnCoordinator) answerWaiting() {
	a.answerAsks()
	a.answerHeld()
	for id, req := range a.waiting {
		req.answerUndelivered()
		delete(a.waiting, id)
	}
}

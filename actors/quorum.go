package actors

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/cluster/quorum"
	"gregor/logstore/raftlog"
)

// quorumName is the quorum actor's name in the actor system.
const quorumName = "quorum"

// quorumActor is the node's member of the metadata quorum, a thin shell
// around quorum.Quorum: it owns the core and its durable log (raftlog),
// ticks the core on a timer, carries raft messages over the CONTROLLER
// listener (quorum_transport.go), and carries out each Ready in the core's
// order: save, send, apply, tell, advance, snapshot. Every node applies the
// committed metadata here, and only here, to its MetadataImage, which goes to
// the replica manager and the controller.
type quorumActor struct {
	node     *Node
	core     *quorum.Quorum
	log      *raftlog.Log
	migrated []string
	image    *cluster.MetadataImage
	net      *raftTransport
	// proposals are this node's metadata proposals not yet settled.
	proposals map[quorum.ProposalID]proposalRef
	// refused is the last proposal refused: the controller drops that one
	// and every later one of its session, so the later ones are refused
	// without a word.
	refused    proposalRef
	leadership quorum.Leadership
	// transferDone runs once the leadership moved away (a graceful stop),
	// or once the voters in resignWait heard of its resignation.
	transferDone func()
	resignWait   map[int32]bool
	timer        *time.Timer
	// failed: the metadata log cannot go on; stopped: the log is closed.
	failed, stopped bool
	// lost is set when this voter found it lost its metadata log.
	lost   error
	logger *zap.Logger
	// driveDue says a quorumDrive is in the mailbox; tickDue that a tick
	// fell since the last one, and answers the frames stepped since
	// (quorumDrive).
	driveDue, tickDue bool
	answers           []*raftInbound
}

// proposalRef names a controller's batch: the leadership term and the
// session (a run of proposals the controller has not rolled back) it was
// proposed in, and the metadata offset of its first record.
type proposalRef struct {
	term, session uint64
	epoch         int64
}

// quorumTick wakes the quorum actor when raft's next tick falls.
type quorumTick struct{}

// quorumDrive makes the quorum actor tick the core if a tick fell, and
// carry out its Ready. A message that changes the core (a raft frame, its
// answer, a proposal, a tick) schedules one at the end of the mailbox
// rather than carrying out a Ready of its own: what waits in the mailbox
// (the frames and proposals that came while the actor was busy, say
// saving the metadata log while the disk is loaded) is stepped first, and
// goes to the log in one save (one fsync) and to the peers in one round;
// and frames that came while a tick was overdue are stepped before it, so
// a leader late to its tick counts the followers that answered meanwhile
// (check-quorum), and a follower the heartbeats it was sent, instead of
// deposing a leader that was heard all along.
type quorumDrive struct{}

// proposeMetadata asks the quorum to commit a controller's batch.
type proposeMetadata struct {
	ref  proposalRef
	data []byte
}

// proposalFailed tells the controller a batch was never proposed.
type proposalFailed struct {
	ref proposalRef
	err error
}

// quorumUpdate tells the controller what one Ready changed: the image as
// applied, its own batches committed (in order), the new leadership.
type quorumUpdate struct {
	image      *cluster.MetadataImage
	committed  []proposalRef
	leadership *quorum.Leadership
}

// describeQuorumLocal asks the quorum actor for DescribeQuorum's answer.
type describeQuorumLocal struct {
	req     *kmsg.DescribeQuorumRequest
	respond func(kmsg.Response)
}

// Receive implements actor.Actor.
func (a *quorumActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		a.node.quorumStarted.Store(true)
		a.logger = a.node.logger.Named("quorum")
		a.image = cluster.NewMetadataImage()
		a.proposals = map[quorum.ProposalID]proposalRef{}
		a.net = newRaftTransport(a.node, a.core, ctx.Self())
		a.core.Tick(a.node.cfg.Clock.Now())
		a.armTick(ctx)
	case *quorumTick:
		a.tickDue = true
	case *quorumDrive:
		a.driveDue = false
		if a.stopped {
			return
		}
		if a.tickDue {
			a.tickDue = false
			a.core.Tick(a.node.cfg.Clock.Now())
			a.net.poll(a.core.Leadership())
			a.armTick(ctx)
		}
		a.drive(ctx)
		a.answer()
		return
	case *raftInbound:
		if !a.inbound(msg) {
			return
		}
		if a.lost != nil {
			a.fail(ctx, a.lost)
			return
		}
	case *raftDelivered:
		a.resignHeard(msg.to)
		if a.delivered(msg); a.lost != nil {
			a.fail(ctx, a.lost)
			return
		}
	case *proposeMetadata:
		a.propose(ctx, msg)
	case *routesPublished:
		a.node.send(a.node.controller, msg)
		a.node.send(a.node.lifecycle.Load(), msg)
	case *replicaManagerRestarted:
		ctx.Request(a.node.replicaManager, &metadataImageApplied{image: a.image})
	case *describeQuorumLocal:
		msg.respond(describeQuorum(msg.req, a.core.Status(), a.node.cfg))
	case *transferLeadership:
		a.transfer(ctx, msg)
	case *quorumStopping:
		a.core.Stopping(msg.awaitingController)
	case *resignWaitOver:
		a.resignHeard(-1)
	case *actor.Stopping:
		a.stop()
		return
	}
	if !a.driveDue {
		a.driveDue = true
		ctx.Send(ctx.Self(), &quorumDrive{})
	}
}

// drive carries out every Ready of the core, in its order.
func (a *quorumActor) drive(ctx actor.Context) {
	for !a.failed && a.core.HasReady() {
		rd := a.core.Ready()
		a.net.send(rd.SendFirst)
		if err := a.log.Save(rd.Persist); err != nil {
			a.fail(ctx, fmt.Errorf("save to the metadata log: %w", err))
			return
		}
		if a.migrated != nil {
			a.removeMigrated()
		}
		a.net.send(rd.Messages)
		update := &quorumUpdate{leadership: rd.Leadership}
		changed, err := a.apply(rd)
		if err != nil {
			a.fail(ctx, err)
			return
		}
		update.committed = a.settle(rd.Proposals)
		if rd.Membership != nil {
			a.logger.Info("metadata quorum membership", zap.Int32s("voters", rd.Membership.Voters), zap.Int32s("learners", rd.Membership.Learners))
		}
		if rd.Leadership != nil {
			a.led(*rd.Leadership)
		}
		a.core.Advance()
		if changed {
			a.imageChanged(ctx)
		}
		update.image = a.image
		if changed || len(update.committed) > 0 || update.leadership != nil {
			a.node.send(a.node.controller, update)
		}
		if rd.CaughtUp {
			a.caughtUp()
		}
		if rd.SnapshotDue {
			a.snapshot()
		}
	}
	a.node.leadershipHold.Store(a.core.LeadershipHoldsUntilMs())
	a.tellNoController()
	a.addLearners()
}

// led notes a new leadership.
func (a *quorumActor) led(l quorum.Leadership) {
	a.leadership = l
	a.node.quorumLeader.Store(l.LeaderID)
	a.node.quorumResigned.Store(a.noControllerPast())
	a.node.send(a.node.lifecycle.Load(), &quorumLeaderKnown{leader: l.LeaderID, resignedOffset: a.node.quorumResigned.Load()})
	if a.transferDone != nil && l.LeaderID != a.node.cfg.NodeID {
		a.transferDone()
		a.transferDone = nil
	}
	a.node.clusterMetrics.quorumLeader(a.core.Status())
	a.logger.Info("metadata quorum leadership", zap.Int32("leader", l.LeaderID),
		zap.Uint64("leader_epoch", l.LeaderEpoch), zap.Bool("active", l.Active), zap.Bool("resigned", l.Resigned))
}

// propose hands a controller's batch to raft, unless it belongs to a run of
// proposals the controller dropped, or the leadership it was decided in is
// over.
func (a *quorumActor) propose(ctx actor.Context, msg *proposeMetadata) {
	r := msg.ref
	if r.term == a.refused.term && r.session <= a.refused.session {
		return
	}
	l := a.core.Leadership()
	var err error
	if !l.Active || l.LeaderEpoch != r.term {
		err = quorum.ErrNotLeader
	} else {
		var id quorum.ProposalID
		if id, err = a.core.Propose(msg.data); err == nil {
			a.proposals[id] = r
			return
		}
	}
	a.refused = r
	if errors.Is(err, quorum.ErrNotLeader) || errors.Is(err, quorum.ErrProposalRefused) {
		// Not leading, or handing the leadership on: the requester tries
		// the next controller.
		err = fmt.Errorf("%w: %v", kerr.NotController, err)
	}
	ctx.Send(a.node.controller, &proposalFailed{ref: r, err: err})
}

// armTick sets the timer for raft's next tick.
func (a *quorumActor) armTick(ctx actor.Context) {
	if a.timer != nil {
		a.timer.Stop()
	}
	wait := time.Duration(a.core.NextTickMs()-a.node.cfg.Clock.Now().MonoMs) * time.Millisecond
	self, root := ctx.Self(), a.node.system.Root
	a.timer = time.AfterFunc(max(wait, 0), func() { root.Send(self, &quorumTick{}) })
}

// fail stops the node: the metadata log cannot go on.
func (a *quorumActor) fail(ctx actor.Context, err error) {
	a.failed = true
	a.node.leadershipHold.Store(0)
	a.node.fail(err)
	ctx.Stop(ctx.Self())
}

func (a *quorumActor) stop() {
	a.stopped = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.net.close()
	if err := a.log.Close(); err != nil {
		a.logger.Warn("close the metadata log", zap.Error(err))
	}
}

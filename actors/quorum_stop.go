package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster/quorum"
)

// The quorum actor's part in a graceful stop: it tells the leader how far
// the node's stop came, and hands the leadership on (or resigns it) before
// the node closes its CONTROLLER listener (cluster/quorum/stopping.go).

// transferLeadership asks the quorum actor, on a graceful stop, to hand the
// leadership to another voter; done runs once it moved (or there is none to
// hand it to, or the other members heard this node resign it).
type transferLeadership struct{ done func() }

// quorumStopping tells the quorum actor this node stops gracefully
// (quorum.Quorum.Stopping): awaitingController while its broker's
// controlled shutdown is not over.
type quorumStopping struct{ awaitingController bool }

// resignWaitOver ends the wait for the members to hear of a resignation.
type resignWaitOver struct{}

// tellQuorumStopping tells the node's quorum actor how far its graceful
// stop came, so that a voter's leader hands its leadership to a voter
// that is not stopping.
func (n *Node) tellQuorumStopping(awaitingController bool) {
	if n.quorum != nil {
		n.send(n.quorum, &quorumStopping{awaitingController: awaitingController})
	}
}

// transfer hands the leadership on (the quorum core picks the voter), so
// that the quorum need not wait an election timeout for this node to be
// missed. When the core resigned instead (every other voter is stopping
// too), the members are told before the node goes on stopping
// (awaitResignation).
func (a *quorumActor) transfer(ctx actor.Context, msg *transferLeadership) {
	to, err := a.core.HandOffLeadership()
	switch {
	case err != nil:
		a.logger.Info("metadata quorum leadership not transferred", zap.Error(err))
		msg.done()
		return
	case to < 0 && a.core.Resigned():
		a.drive(ctx)
		a.awaitResignation(ctx, msg.done)
		return
	case to < 0:
		msg.done()
		return
	}
	a.logger.Info("transferring the metadata quorum leadership", zap.Int32("to", to))
	a.transferDone = msg.done
}

// awaitResignation runs done once every other member that may need it
// heard of this node's resignation: a voter once its CONTROLLER listener
// took (or refused) a frame sent after it, a learner once it polled for
// what is held for it. A member that said it stops and needs no
// controller, one known unreachable, and one not heard from for two raft
// ticks are not waited for (a frame to a node just gone waits out the
// bound). At most two raft ticks (a learner polls every tick), within the
// caller's own bound.
func (a *quorumActor) awaitResignation(ctx actor.Context, done func()) {
	a.resignWait = map[int32]bool{}
	st := a.core.Status()
	tickMs := max(a.node.cfg.QuorumElectionTimeoutMs/10, 1)
	heardSinceMs := a.node.cfg.Clock.Now().WallMs - 2*tickMs
	for _, m := range append(append([]quorum.ReplicaStatus(nil), st.Voters...), st.Observers...) {
		// A member alive answers or polls every raft tick: one silent for
		// two has gone (or will not hear it in time either).
		if m.NodeID != a.node.cfg.NodeID && !a.net.unreachable[m.NodeID] && m.LastFetchTimestamp >= heardSinceMs &&
			!a.core.MemberLeaving(m.NodeID) {
			a.resignWait[m.NodeID] = true
		}
	}
	a.transferDone = done
	if len(a.resignWait) == 0 {
		a.resignHeard(-1)
		return
	}
	self, root := ctx.Self(), a.node.system.Root
	bound := time.Duration(a.node.cfg.QuorumElectionTimeoutMs/5) * time.Millisecond
	time.AfterFunc(bound, func() { root.Send(self, &resignWaitOver{}) })
}

// resignHeard notes that member heard of this node's resignation (-1:
// the wait is over for all).
func (a *quorumActor) resignHeard(member int32) {
	if a.resignWait == nil {
		return
	}
	delete(a.resignWait, member)
	if len(a.resignWait) > 0 && member >= 0 {
		return
	}
	a.resignWait = nil
	if a.transferDone != nil {
		a.transferDone()
		a.transferDone = nil
	}
}

// noControllerPast is the offset past which no controller commits, as this
// node knows: its leader resigned (quorum.Leadership.Resigned), or it leads
// alone among voters that all stop (quorum.Quorum.StoppingAlone); -1 when
// a controller may.
func (a *quorumActor) noControllerPast() int64 {
	if l := a.leadership; l.Resigned {
		return l.ResignedOffset
	}
	if committed, ok := a.core.StoppingAlone(); ok {
		return committed
	}
	return -1
}

// tellNoController tells the broker lifecycle when noControllerPast
// changed (cluster.BrokerLifecycle.QuorumResigned).
func (a *quorumActor) tellNoController() {
	off := a.noControllerPast()
	if off == a.node.quorumResigned.Load() {
		return
	}
	a.node.quorumResigned.Store(off)
	a.node.send(a.node.lifecycle.Load(), &quorumLeaderKnown{leader: a.leadership.LeaderID, resignedOffset: off})
}

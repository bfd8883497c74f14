package actors

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
)

// The broker lease in production (cluster.BrokerLease decides): the broker
// lifecycle actor publishes its core's lease after every message, and the
// group and transaction coordinator actors answer a request only while the
// lease is valid by the node's monotonic clock when they take it up (the
// part this node's own controller granted only while its quorum
// leadership holds, leadershipHold). A node
// cut off from the controller, which may have fenced it and moved its
// __consumer_offsets and __transaction_state leadership, so stops answering
// from its coordinators' memory before another node's coordinators load:
// the clients get NOT_COORDINATOR and look the coordinator up again (a
// group or transaction coordinator first holds a request up to 2 s for the
// lease to hold again: group_lease_hold.go, txn_lease_hold.go). Its
// partition leaders keep serving, as Kafka's do. Once a heartbeat is
// acknowledged again, the coordinators answer again; if the leadership
// moved meanwhile, the replica manager stopped them as the image says.

// brokerLeaseState is the broker's lease as the coordinators read it.
type brokerLeaseState struct {
	// current is the lease the lifecycle last published, nil before the
	// first; refused is the lease under which a coordinator last refused,
	// so that each lapse is logged once.
	current, refused atomic.Pointer[cluster.BrokerLease]
	// lapsedAtMs is the monotonic time a coordinator first found the
	// lease lapsed, 0 while it holds, so that the lapse's end (the first
	// valid lease published, or found) is logged with its length.
	lapsedAtMs atomic.Int64
}

// publishLease hands the broker's lease to the coordinators; the end of a
// lapse they met is logged here, or at their next look (leaseHolds),
// whichever comes first.
func (n *Node) publishLease(l cluster.BrokerLease) {
	if old := n.lease.current.Load(); old == nil || *old != l {
		n.lease.current.Store(&l)
	}
	if at := n.lease.lapsedAtMs.Load(); at != 0 {
		if now := n.cfg.Clock.Now().MonoMs; l.Valid(now, n.leadershipHold.Load()) {
			n.leaseHoldsAgain(at, now)
		}
	}
}

// leaseHoldsAgain logs the end of the lapse a coordinator first met at
// monotonic time at, once.
func (n *Node) leaseHoldsAgain(at, now int64) {
	if n.lease.lapsedAtMs.CompareAndSwap(at, 0) {
		n.logger.Info("broker lease holds again: the coordinators answer", zap.Int64("lapse_ms", now-at))
	}
}

// leaseHolds says the node's coordinators may answer now; the first
// refusal under each lapsed lease is logged.
func (n *Node) leaseHolds() bool {
	l, now, hold := n.lease.current.Load(), n.cfg.Clock.Now().MonoMs, n.leadershipHold.Load()
	if l != nil && l.Valid(now, hold) {
		if at := n.lease.lapsedAtMs.Load(); at != 0 {
			n.leaseHoldsAgain(at, now)
		}
		return true
	}
	if l != nil {
		if old := n.lease.refused.Load(); (old == nil || *old != *l) && n.lease.refused.CompareAndSwap(old, l) {
			until, held := l.UntilMs(hold)
			n.logger.Warn("broker lease lapsed: the group and transaction coordinators hold requests (2 s at most, then NOT_COORDINATOR) "+
				"and their timers until the controller acknowledges a heartbeat",
				zap.Bool("held", held), zap.Int64("lease_until_mono_ms", until))
			n.lease.lapsedAtMs.CompareAndSwap(0, max(now, 1))
		}
	}
	return false
}

// leaseRefusal is a coordinator's answer while the lease does not hold:
// NOT_COORDINATOR, so the client finds the coordinator again; for
// ListGroups, which names no group, COORDINATOR_NOT_AVAILABLE, as Kafka's
// answers while its coordinator is not active.
func leaseRefusal(body kmsg.Request) int16 {
	if _, ok := body.(*kmsg.ListGroupsRequest); ok {
		return kerr.CoordinatorNotAvailable.Code
	}
	return kerr.NotCoordinator.Code
}

package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// The broker lease in production (cluster.BrokerLease decides): the broker
// lifecycle actor publishes its core's lease after every message, and the
// group and transaction coordinator actors answer a request only while the
// lease is valid by the node's monotonic clock when they take it up. A node
// cut off from the controller, which may have fenced it and moved its
// __consumer_offsets and __transaction_state leadership, so stops answering
// from its coordinators' memory before another node's coordinators load:
// the clients get NOT_COORDINATOR and look the coordinator up again. Its
// partition leaders keep serving, as Kafka's do. Once a heartbeat is
// acknowledged again, the coordinators answer again; if the leadership
// moved meanwhile, the replica manager stopped them as the image says.

// publishLease hands the broker's lease to the coordinators.
func (n *Node) publishLease(l cluster.BrokerLease) {
	if old := n.brokerLease.Load(); old == nil || *old != l {
		n.brokerLease.Store(&l)
	}
}

// leaseHolds says the node's coordinators may answer now.
func (n *Node) leaseHolds() bool {
	l := n.brokerLease.Load()
	return l != nil && l.Valid(n.cfg.Clock.Now().MonoMs)
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

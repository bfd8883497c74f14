package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
	"gregor/txn"
)

// FindCoordinator is answered from the metadata image: a group's
// coordinator is the live leader of its __consumer_offsets partition, a
// transactional id's the live leader of its __transaction_state partition;
// the first request for either creates the topic through the controller.

// leaseLapsedMessage is FindCoordinator's answer for a coordinator this
// node would run while its broker lease lapsed: naming itself would send
// the client to a coordinator that answers NOT_COORDINATOR (the controller
// may have moved it), so the client is told to ask again instead.
const leaseLapsedMessage = "this broker's lease with the controller lapsed: its coordinators do not answer"

func (r *router) findCoordinator(body *kmsg.FindCoordinatorRequest, respond func(kmsg.Response)) {
	keys := body.CoordinatorKeys
	if body.Version < 4 {
		keys = []string{body.CoordinatorKey}
	}
	img := r.node.routes.load().image
	if _, ok := img.Topic(groups.OffsetsTopic); !ok && body.CoordinatorType == 0 && len(keys) > 0 {
		r.node.groups.createOffsetsTopic(func() { respond(r.findCoordinatorResponse(body, keys)) })
		return
	}
	if _, ok := img.Topic(txn.StateTopic); !ok && body.CoordinatorType == 1 && len(keys) > 0 {
		r.node.txns.createStateTopic(func() { respond(r.findCoordinatorResponse(body, keys)) })
		return
	}
	respond(r.findCoordinatorResponse(body, keys))
}

func (r *router) findCoordinatorResponse(body *kmsg.FindCoordinatorRequest, keys []string) *kmsg.FindCoordinatorResponse {
	resp := body.ResponseKind().(*kmsg.FindCoordinatorResponse)
	rt := r.node.routes.load()
	live := r.node.liveBrokers(rt.image)
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		var msg string
		switch {
		case body.CoordinatorType == 1:
			c.ErrorCode, msg = r.txnCoordinatorFor(rt, live, key, &c)
		case body.CoordinatorType != 0:
			c.ErrorCode, msg = kerr.InvalidRequest.Code, "unknown coordinator type"
		default:
			c.ErrorCode, msg = r.groupCoordinator(rt, live, key, &c)
		}
		if msg != "" {
			c.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if body.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}

// groupCoordinator fills in the broker that coordinates group key: the
// leader of the group's __consumer_offsets partition, when it is live (and,
// when it is this node, once its coordinator runs); otherwise it returns
// COORDINATOR_NOT_AVAILABLE, and the client asks again.
func (r *router) groupCoordinator(rt *routes, live []liveBroker, key string, c *kmsg.FindCoordinatorResponseCoordinator) (int16, string) {
	notAvailable := kerr.CoordinatorNotAvailable.Code
	t, ok := rt.image.Topic(groups.OffsetsTopic)
	if !ok || t.PartitionCount() == 0 {
		return notAvailable, "the group's coordinator is not available yet"
	}
	leader := t.Partitions[groups.PartitionFor(key, t.PartitionCount())].Leader
	if leader == r.node.cfg.NodeID && r.node.groups.coordinatorFor(rt, key) == nil {
		return notAvailable, "the group's coordinator is loading"
	}
	if leader == r.node.cfg.NodeID && !r.node.leaseHolds() {
		return notAvailable, leaseLapsedMessage
	}
	for _, b := range live {
		if b.id == leader {
			c.NodeID, c.Host, c.Port = b.id, b.host, b.port
			return 0, ""
		}
	}
	return notAvailable, "the group's coordinator has no live leader"
}

// txnCoordinatorFor fills in the broker that coordinates transactional id
// key: the live leader of its __transaction_state partition (when it is
// this node, once its coordinator runs).
func (r *router) txnCoordinatorFor(rt *routes, live []liveBroker, key string, c *kmsg.FindCoordinatorResponseCoordinator) (int16, string) {
	notAvailable := kerr.CoordinatorNotAvailable.Code
	t, ok := rt.image.Topic(txn.StateTopic)
	if !ok || t.PartitionCount() == 0 {
		return notAvailable, "the transaction coordinator is not available yet"
	}
	leader := t.Partitions[txn.PartitionFor(key, t.PartitionCount())].Leader
	if leader == r.node.cfg.NodeID && r.node.txns.coordinatorFor(rt, key) == nil {
		return notAvailable, "the transaction coordinator is loading"
	}
	if leader == r.node.cfg.NodeID && !r.node.leaseHolds() {
		return notAvailable, leaseLapsedMessage
	}
	for _, b := range live {
		if b.id == leader {
			c.NodeID, c.Host, c.Port = b.id, b.host, b.port
			return 0, ""
		}
	}
	return notAvailable, "the transaction coordinator has no live leader"
}

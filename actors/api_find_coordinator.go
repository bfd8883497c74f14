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
		if kind, ok := r.coordinatorKind(body.CoordinatorType); ok {
			c.ErrorCode, msg = r.coordinatorAt(rt, live, kind, key, &c)
		} else {
			c.ErrorCode, msg = kerr.InvalidRequest.Code, "unknown coordinator type"
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

// coordinatorKind is what FindCoordinator needs of one kind of
// coordinator: the internal topic whose partition leaders coordinate, the
// partition a key maps to, whether this node's coordinator for a key runs,
// and the name its messages give it.
type coordinatorKind struct {
	topic        string
	partitionFor func(key string, partitions int32) int32
	running      func(rt *routes, key string) bool
	name         string
}

// coordinatorKind is the kind of coordinator FindCoordinator's key type
// asks for: 0 groups, 1 transactional ids.
func (r *router) coordinatorKind(keyType int8) (coordinatorKind, bool) {
	switch keyType {
	case 0:
		return coordinatorKind{groups.OffsetsTopic, groups.PartitionFor,
			func(rt *routes, key string) bool { return r.node.groups.coordinatorFor(rt, key) != nil },
			"the group's coordinator"}, true
	case 1:
		return coordinatorKind{txn.StateTopic, txn.PartitionFor,
			func(rt *routes, key string) bool { return r.node.txns.coordinatorFor(rt, key) != nil },
			"the transaction coordinator"}, true
	}
	return coordinatorKind{}, false
}

// coordinatorAt fills in the broker that coordinates key: the leader of
// key's partition of the kind's topic, when it is live (and, when it is
// this node, once its coordinator runs and while its lease holds);
// otherwise it returns COORDINATOR_NOT_AVAILABLE, and the client asks
// again.
func (r *router) coordinatorAt(rt *routes, live []liveBroker, kind coordinatorKind, key string, c *kmsg.FindCoordinatorResponseCoordinator) (int16, string) {
	notAvailable := kerr.CoordinatorNotAvailable.Code
	t, ok := rt.image.Topic(kind.topic)
	if !ok || t.PartitionCount() == 0 {
		return notAvailable, kind.name + " is not available yet"
	}
	leader := t.Partitions[kind.partitionFor(key, t.PartitionCount())].Leader
	if leader == r.node.cfg.NodeID && !kind.running(rt, key) {
		return notAvailable, kind.name + " is loading"
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
	return notAvailable, kind.name + " has no live leader"
}

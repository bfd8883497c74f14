package actors

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/groups"
)

// A graceful stop keeps the client listener answering for a while after
// the controlled shutdown moved this node's partitions, and with them its
// group coordinators, to other brokers, as Kafka's brokers serve until
// they close their listener: a member that heartbeats here meanwhile gets
// NOT_COORDINATOR and finds its group's new coordinator, as after any
// coordinator move; a Produce or Fetch gets NOT_LEADER_OR_FOLLOWER. Closed
// at once, the connection sent sarama's heartbeat loop back to this node's
// address three times within a millisecond (it retries its cached
// coordinator without a backoff after a failed send), then it ended its
// session, and its member joined again: a rebalance of its whole group.
//
// The drain ends once every group member that sent a request of its own
// (a join, sync or heartbeat) to a coordinator here within the drain's
// bound before it began was answered NOT_COORDINATOR to one of them (or
// its connection closed), at ShutdownDrainMs at the latest
// (controlled.shutdown.drain.ms; members heartbeat every 3 s by default).
// A member's heartbeat is what must learn of the move: sarama's heartbeat
// loop shares its connection with its offset commits, and a commit told
// NOT_COORDINATOR left the heartbeat sent right after to the closed
// connection. The drain counts members, not connections: franz-go sends
// its joins and syncs on a connection of their own and its heartbeats on
// another, and a member of a settled group sends nothing on the first
// until its next rebalance (a drain that waited for that connection waited
// its whole bound). Only members whose group's coordinator moved to another
// live broker are waited for: one whose coordinator went nowhere (no
// active broker took its __consumer_offsets partition: the other nodes are
// down or stopping too, as in gregor cluster down) has nowhere to be sent.
// A node that still coordinates groups (no other broker took them), or
// whose clients sent its coordinators nothing lately, does not wait.
// A franz-go or kafka-python member whose offset commit is answered
// NOT_COORDINATOR before its next heartbeat learns the move there (its
// coordinator cache is its client's) and heartbeats straight to the new
// coordinator; it is never told here. A commit cannot count as told:
// sarama's heartbeat loop keeps its client's cached coordinator until a
// heartbeat fails or its offset manager looks the coordinator up again.
// So such a member is let go once no heartbeat of its came here for half
// as long again as its heartbeats came apart (memberSeen.learnedElsewhere);
// before, the drain waited for it until its bound.

// drainCoordinatorClients keeps the listener answering after a controlled
// shutdown (above), until the members that talked to this node's group
// coordinators were told they moved, ShutdownDrainMs, or ctx, whichever
// comes first. While a coordinator still runs here (no other broker took
// its partition: one node, or no controlled shutdown) there is nothing to
// tell.
func (n *Node) drainCoordinatorClients(ctx context.Context) {
	boundMs := n.cfg.ShutdownDrainMs
	if boundMs <= 0 || n.router == nil || n.groups == nil || len(*n.groups.coordinators.Load()) > 0 {
		return
	}
	started := time.Now()
	cc := &n.router.coordConns
	drained, waiting := cc.beginDrain(n.cfg.Clock.Now().MonoMs, boundMs, n.coordinatorMovedAway)
	if waiting == 0 {
		return
	}
	n.logger.Info("keeping the listener open until group members learn their coordinators moved",
		zap.Int("members", waiting), zap.Int64("at_most_ms", boundMs))
	bound := time.NewTimer(time.Duration(boundMs) * time.Millisecond)
	defer bound.Stop()
	// The broker that took a coordinator may begin to stop too (gregor
	// cluster down stops every node at once): its members are not waited
	// for then.
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	for {
		select {
		case <-drained:
			n.logger.Info("group members told their coordinators moved", zap.Duration("after", time.Since(started)))
			return
		case <-recheck.C:
			if learned := cc.recheck(n.cfg.Clock.Now().MonoMs, n.coordinatorMovedAway); len(learned) > 0 {
				n.logger.Info("group members learned from their offset commit that their coordinators moved",
					zap.Duration("after", time.Since(started)), zap.Strings("members", learned))
			}
		case <-bound.C:
			n.logger.Info("stopped waiting for group members to learn their coordinators moved", zap.Duration("after", time.Since(started)),
				zap.Strings("not_told", cc.notTold()))
			return
		case <-ctx.Done():
			return
		}
	}
}

// coordinatorMovedAway says whether group's coordinator is now on another
// active broker (registered, not fenced, not in a controlled shutdown):
// the leader of its __consumer_offsets partition in this node's metadata.
func (n *Node) coordinatorMovedAway(group string) bool {
	img := n.routes.load().image
	t, ok := img.Topic(groups.OffsetsTopic)
	if !ok || t.PartitionCount() == 0 {
		return false
	}
	leader := t.Partitions[groups.PartitionFor(group, t.PartitionCount())].Leader
	if leader < 0 || leader == n.cfg.NodeID {
		return false
	}
	b, ok := img.Broker(leader)
	return ok && b.Active()
}

// toldOnMove wraps the answer to a member's request sent to a coordinator
// here: NOT_COORDINATOR from the coordinator itself (its partition moved
// or the node stopped it while the request was queued, or while a join
// waited in it for the group's other members) tells the member as the
// router's does (coordinatorConns.told). A franz-go member whose parked
// join is answered so looks its coordinator up and sends nothing here
// again, so a drain waited for it until its bound.
//
// It also notes what the answer says of the member's heartbeats: a
// SyncGroup answered ends its rebalance, a ConsumerGroupHeartbeat answered
// names its interval (memberSeen.learnedElsewhere).
func (r *router) toldOnMove(k memberKey, respond func(kmsg.Response)) func(kmsg.Response) {
	return func(resp kmsg.Response) {
		respond(resp)
		switch a := resp.(type) {
		case *kmsg.SyncGroupResponse:
			if a.ErrorCode == 0 {
				r.coordConns.synced(k, r.node.cfg.Clock.Now().MonoMs)
			}
		case *kmsg.ConsumerGroupHeartbeatResponse:
			if a.ErrorCode == 0 {
				r.coordConns.toldInterval(k, int64(a.HeartbeatIntervalMillis))
			}
		}
		if membershipErrorCode(resp) == kerr.NotCoordinator.Code {
			r.coordConns.told(k)
		}
	}
}

// synced notes that the member k's SyncGroup was answered at nowMs: its
// rebalance is over, and its heartbeats start again one interval later.
func (cc *coordinatorConns) synced(k memberKey, nowMs int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if m := cc.seen[k]; m != nil {
		m.heartbeatMs, m.heartbeatGapMs, m.lastGapMs = nowMs, 0, 0
	}
}

// toldInterval notes the heartbeat interval the coordinator told the
// member k (KIP-848).
func (cc *coordinatorConns) toldInterval(k memberKey, intervalMs int64) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if m := cc.seen[k]; m != nil && intervalMs > 0 {
		m.intervalMs = intervalMs
	}
}

// commitToldOnMove wraps the answer to a member's offset commit sent to a
// coordinator here: NOT_COORDINATOR from the coordinator itself tells the
// member as the router's does (coordinatorConns.commitTold).
func (r *router) commitToldOnMove(k memberKey, respond func(kmsg.Response)) func(kmsg.Response) {
	return func(resp kmsg.Response) {
		respond(resp)
		if offsetCommitNotCoordinator(resp) {
			r.coordConns.commitTold(k)
		}
	}
}

// offsetCommitNotCoordinator says an OffsetCommit's answer refused a
// partition NOT_COORDINATOR.
func offsetCommitNotCoordinator(resp kmsg.Response) bool {
	r, ok := resp.(*kmsg.OffsetCommitResponse)
	if !ok {
		return false
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == kerr.NotCoordinator.Code {
				return true
			}
		}
	}
	return false
}

// heartbeatRequest says whether body is a member's heartbeat.
func heartbeatRequest(body kmsg.Request) bool {
	switch body.(type) {
	case *kmsg.HeartbeatRequest, *kmsg.ConsumerGroupHeartbeatRequest:
		return true
	}
	return false
}

// membershipErrorCode is the error code of the answer to a member's own
// request (membershipRequest), 0 for any other answer.
func membershipErrorCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.JoinGroupResponse:
		return r.ErrorCode
	case *kmsg.SyncGroupResponse:
		return r.ErrorCode
	case *kmsg.HeartbeatResponse:
		return r.ErrorCode
	case *kmsg.ConsumerGroupHeartbeatResponse:
		return r.ErrorCode
	}
	return 0
}

// membershipRequest says whether body is a group member's own request (a
// join, sync or heartbeat), which a member sends every heartbeat interval.
func membershipRequest(body kmsg.Request) bool {
	switch body.(type) {
	case *kmsg.JoinGroupRequest, *kmsg.SyncGroupRequest, *kmsg.HeartbeatRequest, *kmsg.ConsumerGroupHeartbeatRequest:
		return true
	}
	return false
}

package actors

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
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
// The drain ends once every connection that carried a member's requests
// (joins, syncs, heartbeats) to a group coordinator here within the
// drain's bound before it began was answered NOT_COORDINATOR to one of
// them (or closed), at ShutdownDrainMs at the latest
// (controlled.shutdown.drain.ms; members heartbeat every 3 s by default).
// A member's heartbeat is what must learn of the move: sarama's heartbeat
// loop shares its connection with its offset commits, and a commit told
// NOT_COORDINATOR left the heartbeat sent right after to the closed
// connection. A node that still coordinates groups (no other broker took them), or
// whose clients sent its coordinators nothing lately, does not wait.

// coordinatorConns keeps when each client connection last carried a
// member's request to a group coordinator of this node and, during a
// drain, which of those were not answered NOT_COORDINATOR to one yet.
type coordinatorConns struct {
	mu     sync.Mutex
	lastMs map[*netio.ConnInfo]int64
	// clients are the client ids the connections last sent with (to name
	// those a drain stopped waiting for).
	clients map[*netio.ConnInfo]string
	// draining: pending are the connections the drain waits for; drained
	// closes when none is left.
	draining bool
	pending  map[*netio.ConnInfo]struct{}
	drained  chan struct{}
}

// sent notes that conn carried a member's request to a coordinator here
// at nowMs, from client.
func (cc *coordinatorConns) sent(conn *netio.ConnInfo, client string, nowMs int64) {
	if conn == nil {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, known := cc.lastMs[conn]; !known {
		if cc.lastMs == nil {
			cc.lastMs, cc.clients = map[*netio.ConnInfo]int64{}, map[*netio.ConnInfo]string{}
		}
		if closed := conn.Closed(); closed.Done() != nil {
			context.AfterFunc(closed, func() { cc.closed(conn) })
		}
	}
	cc.lastMs[conn] = nowMs
	cc.clients[conn] = client
}

// told notes that a member's request on conn was answered NOT_COORDINATOR
// by the router (no coordinator of its group here): its members went to
// look for their coordinators elsewhere, and a drain does not wait for it
// unless it comes back to a coordinator here.
func (cc *coordinatorConns) told(conn *netio.ConnInfo) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if _, known := cc.lastMs[conn]; known {
		cc.lastMs[conn] = toldMs
	}
	cc.release(conn)
}

// toldMs marks a connection told its coordinator moved (coordinatorConns.told).
const toldMs = math.MinInt64

// closed forgets a connection that closed.
func (cc *coordinatorConns) closed(conn *netio.ConnInfo) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.lastMs, conn)
	delete(cc.clients, conn)
	cc.release(conn)
}

// release takes conn off the drain's list; called under cc.mu.
func (cc *coordinatorConns) release(conn *netio.ConnInfo) {
	if !cc.draining {
		return
	}
	if _, ok := cc.pending[conn]; ok {
		delete(cc.pending, conn)
		if len(cc.pending) == 0 {
			close(cc.drained)
		}
	}
}

// beginDrain lists the connections that carried a member's request to a
// coordinator here within windowMs before nowMs; drained closes once each
// was told or closed. It returns how many there are.
func (cc *coordinatorConns) beginDrain(nowMs, windowMs int64) (drained <-chan struct{}, waiting int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.draining, cc.drained, cc.pending = true, make(chan struct{}), map[*netio.ConnInfo]struct{}{}
	for conn, at := range cc.lastMs {
		if at != toldMs && nowMs-at <= windowMs {
			cc.pending[conn] = struct{}{}
		}
	}
	if len(cc.pending) == 0 {
		close(cc.drained)
	}
	return cc.drained, len(cc.pending)
}

// notTold names the connections a drain still waits for: each peer's
// address and the client id it last sent with, sorted.
func (cc *coordinatorConns) notTold() []string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	names := make([]string, 0, len(cc.pending))
	for conn := range cc.pending {
		addr := "?"
		if conn.RemoteAddr != nil {
			addr = conn.RemoteAddr.String()
		}
		names = append(names, addr+" "+cc.clients[conn])
	}
	slices.Sort(names)
	return names
}

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
	drained, waiting := n.router.coordConns.beginDrain(n.cfg.Clock.Now().MonoMs, boundMs)
	if waiting == 0 {
		return
	}
	n.logger.Info("keeping the listener open until group members learn their coordinators moved",
		zap.Int("connections", waiting), zap.Int64("at_most_ms", boundMs))
	bound := time.NewTimer(time.Duration(boundMs) * time.Millisecond)
	defer bound.Stop()
	select {
	case <-drained:
		n.logger.Info("group members told their coordinators moved", zap.Duration("after", time.Since(started)))
	case <-bound.C:
		n.logger.Info("stopped waiting for group members to learn their coordinators moved", zap.Duration("after", time.Since(started)),
			zap.Strings("not_told", n.router.coordConns.notTold()))
	case <-ctx.Done():
	}
}

// toldOnMove wraps the answer to a member's request sent to a coordinator
// here: NOT_COORDINATOR from the coordinator itself (its partition moved
// or the node stopped it while the request was queued, or while a join
// waited in it for the group's other members) tells the member as the
// router's does (coordinatorConns.told). A franz-go member whose parked
// join is answered so looks its coordinator up and sends nothing here
// again, so a drain waited for it until its bound.
func (r *router) toldOnMove(conn *netio.ConnInfo, respond func(kmsg.Response)) func(kmsg.Response) {
	return func(resp kmsg.Response) {
		respond(resp)
		if membershipErrorCode(resp) == kerr.NotCoordinator.Code {
			r.coordConns.told(conn)
		}
	}
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

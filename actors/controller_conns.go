package actors

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/netio"
)

// A node's connections to this node's CONTROLLER listener (its broker's
// heartbeats and registrations, its metadata quorum traffic) tell the
// controller whether its process is gone: the kernel of a process that
// died closes them, while a stopped (SIGSTOP) or stalled one keeps them
// open. The controller fences a broker gossip reports failed before its
// session lapses only once they all closed
// (cluster.Controller.BrokerConnectionsClosed), so a live process that
// paused a few seconds keeps its partitions.

// peerConns tracks, per node, the connections it opened to this node's
// CONTROLLER listener. It is shared by the listener's connections and the
// controller actor.
type peerConns struct {
	mu     sync.Mutex
	byConn map[uint64]int32
	open   map[int32]int
	// closedAtMs holds the nodes whose every connection closed, none
	// opened since, and when the last one closed (monotonic ms).
	closedAtMs map[int32]int64
}

// controllerConnsClosed tells the controller actor that every connection
// of node closed.
type controllerConnsClosed struct{ node int32 }

// peerNode is the node a request on the CONTROLLER listener comes from: a
// broker's heartbeat or registration, a raft frame; -1 for any other.
func peerNode(req *netio.Request) int32 {
	switch body := req.Body.(type) {
	case *raftRequest:
		return body.From
	case *kmsg.BrokerHeartbeatRequest:
		return body.BrokerID
	case *kmsg.BrokerRegistrationRequest:
		return body.BrokerID
	case *kmsg.AlterPartitionRequest:
		return body.BrokerID
	}
	return -1
}

// seenControllerConn notes that a request of node came on conn; the first time for a
// connection it watches for its close.
func (n *Node) seenControllerConn(node int32, conn *netio.ConnInfo) {
	if node < 0 || conn == nil || conn.Closed().Done() == nil {
		return
	}
	p := &n.peerConns
	p.mu.Lock()
	if _, ok := p.byConn[conn.ID]; ok {
		p.mu.Unlock()
		return
	}
	if p.byConn == nil {
		p.byConn, p.open, p.closedAtMs = map[uint64]int32{}, map[int32]int{}, map[int32]int64{}
	}
	p.byConn[conn.ID] = node
	p.open[node]++
	delete(p.closedAtMs, node)
	p.mu.Unlock()
	id := conn.ID
	context.AfterFunc(conn.Closed(), func() { n.controllerConnClosed(id) })
}

// controllerConnClosed notes that a connection closed; the controller
// actor hears when it was its node's last. The message is sent under the
// lock: a request on a connection seen after it reaches the actor after
// it.
func (n *Node) controllerConnClosed(id uint64) {
	p := &n.peerConns
	p.mu.Lock()
	defer p.mu.Unlock()
	node, ok := p.byConn[id]
	if !ok {
		return
	}
	delete(p.byConn, id)
	if p.open[node]--; p.open[node] > 0 {
		return
	}
	delete(p.open, node)
	p.closedAtMs[node] = n.cfg.Clock.Now().MonoMs
	if n.controller != nil {
		n.system.Root.Send(n.controller, &controllerConnsClosed{node: node})
	}
}

// closedSince lists the nodes whose every connection closed at sinceMs or
// later, none opened since.
func (p *peerConns) closedSince(sinceMs int64) []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int32
	for node, at := range p.closedAtMs {
		if at >= sinceMs {
			out = append(out, node)
		}
	}
	return out
}

// stillClosed says node's connections are all closed still.
func (p *peerConns) stillClosed(node int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.closedAtMs[node]
	return ok
}

// connsClosed hands the core the report that node's connections closed,
// if none opened since it was sent.
func (c *controllerActor) connsClosed(node int32, now cluster.Instant) {
	if !c.node.peerConns.stillClosed(node) {
		return
	}
	if c.core.Active() {
		c.logger.Info("every connection of a node to this controller closed", zap.Int32("node", node))
	}
	c.core.BrokerConnectionsClosed(node, now)
}

// replayConnsClosed tells a controller that just became active of the
// nodes whose connections closed within the last session timeout: most
// often the previous leader's, killed, whose raft connection closed before
// this node was elected. Older closes are not evidence of anything now (a
// node that restarted since may just not have connected to this one).
func (c *controllerActor) replayConnsClosed(now cluster.Instant) {
	for _, node := range c.node.peerConns.closedSince(now.MonoMs - c.node.cfg.BrokerSessionTimeoutMs) {
		c.connsClosed(node, now)
	}
}

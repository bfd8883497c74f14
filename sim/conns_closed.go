package sim

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The kernel of a process that stops closes its connections, among them
// those to the voters' CONTROLLER listeners (its broker's heartbeats, its
// raft traffic), and the controller fences a broker that membership
// reports failed before its session ends only once they closed
// (cluster.Controller.BrokerConnectionsClosed; actors/controller_conns.go).
// A paused node, one cut off, or one whose machine lost power closes
// nothing, and keeps its partitions until its session lapses. The
// simulator has no connections: the close is a notice of its own from the
// stopping node to each voter, which a cut link loses. Each voter keeps what production's shell keeps: the nodes whose
// connections closed and that have not contacted it since.

// pauseClosedConnsP is the share of paused nodes whose connections to the
// voters closed just before they paused (their client timed out a request
// and closed its connection, as netio's does, then the process stalled):
// the controller then fences them two heartbeat intervals after their last
// heartbeat, while they live and their leases run, which keeps swarms on
// the lease's tightest margin (S10; the clock-drift plant).
const pauseClosedConnsP = 0.5

// controllerConnsClosed is the close of a node's connections to a voter's
// CONTROLLER listener.
type controllerConnsClosed struct{}

// announceConnsClosed tells every voter that n's connections closed (its
// process stopped). The notice takes the network's shortest delay and
// draws nothing from its randomness (a run's other messages keep their
// fates); a cut link loses it.
func (n *node) announceConnsClosed() {
	net := n.w.net
	for _, v := range n.w.voters {
		if v == n.id || net.cut[linkKey{n.id, v}] {
			continue
		}
		m := &message{from: n.id, to: v, kind: msgRequest, body: &controllerConnsClosed{}}
		n.w.stats.Messages++
		n.w.schedule(n.w.now+net.minDelayMs, func() { net.arrive(m) })
	}
}

// connsClosed takes the notice that node from's connections closed: the
// controller hears of it if active, or when it becomes active
// (replayConnsClosed).
func (n *node) connsClosed(from int32) {
	if n.peerClosedAtMs == nil {
		n.peerClosedAtMs = map[int32]int64{}
	}
	n.peerClosedAtMs[from] = n.w.now
	if n.ctrl != nil && n.ctrl.Active() {
		n.w.tracef("%s: every connection of %s closed", n.name(), endpointName(from))
		n.ctrl.BrokerConnectionsClosed(from, n.instant())
		n.settle()
	}
}

// peerHeard notes a message of node from on the CONTROLLER listener (a
// raft message, its broker's heartbeat, registration or AlterPartition):
// it has a connection open again.
func (n *node) peerHeard(m *message) {
	if len(n.peerClosedAtMs) == 0 {
		return
	}
	switch m.kind {
	case msgRaft:
	case msgRequest:
		switch m.body.(type) {
		case *kmsg.BrokerHeartbeatRequest, *kmsg.BrokerRegistrationRequest, *kmsg.AlterPartitionRequest, *raftPoll:
		default:
			return
		}
	default:
		return
	}
	delete(n.peerClosedAtMs, m.from)
}

// replayConnsClosed tells a controller that just became active of the
// nodes whose connections closed within the last session timeout.
func (n *node) replayConnsClosed() {
	since := n.w.now - n.w.timing.sessionTimeoutMs
	for _, id := range slices.Sorted(maps.Keys(n.peerClosedAtMs)) {
		if n.peerClosedAtMs[id] >= since {
			n.ctrl.BrokerConnectionsClosed(id, n.instant())
		}
	}
}

package actors

import (
	"errors"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/cluster/quorum"
	"gregor/netio"
)

// maxOutboxMessages bounds the raft messages held for one node that has no
// CONTROLLER listener (a learner) until it asks for them; the oldest go
// first, as raft tolerates lost messages.
const maxOutboxMessages = 1024

// raftInbound is a raft frame that came in on the CONTROLLER listener.
type raftInbound struct {
	req     *raftRequest
	respond func(*raftResponse)
}

// raftDelivered is the outcome of a raft frame this node sent.
type raftDelivered struct {
	to        int32
	snapshots int
	poll      bool
	resp      *raftResponse
	err       error
}

// raftTransport carries the quorum's messages: to a voter over its
// CONTROLLER listener (controller.quorum.voters), one netio.Client each; to
// a node without one (a broker following as a learner) in the answers to
// the frames it sends, which it also sends empty, as polls, every raft
// tick. Used by the quorum actor only.
type raftTransport struct {
	node    *Node
	core    *quorum.Quorum
	self    *actor.PID
	clients map[int32]*netio.Client
	outbox  map[int32][]outgoingRaft
	// poller says this node has no CONTROLLER listener the others know:
	// it polls the leader for its messages.
	poller    bool
	polling   bool
	nextVoter int
	// leader is the leader polled, and leaderHeardMs when a poll of it
	// last brought messages (a leader sends a learner heartbeats every
	// tick). Raft keeps a learner's last known leader until a new
	// leader's messages reach it, and those wait at the new leader for
	// the learner's poll: a leader silent for longer than timeout (dead,
	// or deposed) is not polled alone, the voters are, in turn.
	leader        int32
	leaderHeardMs int64
	timeout       time.Duration
	unreachable   map[int32]bool
}

type outgoingRaft struct {
	data     []byte
	snapshot bool
}

func newRaftTransport(n *Node, core *quorum.Quorum, self *actor.PID) *raftTransport {
	return &raftTransport{
		node: n, core: core, self: self,
		clients:     map[int32]*netio.Client{},
		outbox:      map[int32][]outgoingRaft{},
		poller:      len(n.cfg.QuorumVoters) > 0 && n.cfg.voterAddress(n.cfg.NodeID) == "",
		timeout:     2 * time.Duration(n.cfg.QuorumElectionTimeoutMs) * time.Millisecond,
		unreachable: map[int32]bool{},
		leader:      -1,
	}
}

// send sends a Ready's messages, one frame per run of messages to the same
// node, in raft's order; a frame ends after a snapshot, so that the
// snapshot's delivery is reported with its own frame.
func (t *raftTransport) send(envs []quorum.Envelope) {
	var msgs [][]byte
	to, snapshots := int32(-1), 0
	flush := func() {
		t.deliver(to, msgs, snapshots)
		msgs, snapshots = nil, 0
	}
	for _, env := range envs {
		if env.To != to || snapshots > 0 || len(msgs) == maxRaftMessagesPerFrame {
			flush()
			to = env.To
		}
		data, err := quorum.MarshalMessage(env.Message)
		if err != nil {
			t.node.logger.Error("raft message not encoded", zap.Error(err))
			continue
		}
		msgs = append(msgs, data)
		if env.CarriesSnapshot() {
			snapshots++
		}
	}
	flush()
}

// deliver sends messages to a node, or holds them for its next frame.
func (t *raftTransport) deliver(to int32, msgs [][]byte, snapshots int) {
	if len(msgs) == 0 {
		return
	}
	c := t.client(to)
	if c == nil {
		for _, m := range msgs {
			t.hold(to, outgoingRaft{data: m, snapshot: snapshots > 0})
		}
		return
	}
	t.sendFrame(c, to, msgs, snapshots, false)
}

func (t *raftTransport) sendFrame(c *netio.Client, to int32, msgs [][]byte, snapshots int, poll bool) {
	req := &raftRequest{ClusterID: t.node.ClusterID(), From: t.node.cfg.NodeID, Messages: msgs}
	self, root := t.self, t.node.system.Root
	err := c.Send(req, t.timeout, func(r *netio.Response, err error) {
		d := &raftDelivered{to: to, snapshots: snapshots, poll: poll, err: err}
		if err == nil {
			d.resp, _ = r.Body.(*raftResponse)
		}
		root.Send(self, d)
	})
	if err != nil {
		root.Send(self, &raftDelivered{to: to, snapshots: snapshots, poll: poll, err: err})
	}
}

// hold keeps a message for a node that fetches its messages.
func (t *raftTransport) hold(to int32, m outgoingRaft) {
	box := append(t.outbox[to], m)
	if len(box) > maxOutboxMessages {
		if box[0].snapshot {
			t.core.ReportSnapshot(to, false)
		}
		box = box[1:]
	}
	t.outbox[to] = box
}

// take hands out what is held for a node.
func (t *raftTransport) take(to int32) [][]byte {
	box := t.outbox[to]
	if len(box) == 0 {
		return nil
	}
	delete(t.outbox, to)
	out := make([][]byte, len(box))
	for i, m := range box {
		out[i] = m.data
		if m.snapshot {
			// Handed out: raft learns of a loss from the node's answers.
			t.core.ReportSnapshot(to, true)
		}
	}
	return out
}

// client is the connection to a voter's CONTROLLER listener; nil for a node
// without one.
func (t *raftTransport) client(to int32) *netio.Client {
	if c, ok := t.clients[to]; ok {
		return c
	}
	addr := t.node.cfg.voterAddress(to)
	if addr == "" || to == t.node.cfg.NodeID {
		return nil
	}
	c, err := netio.NewClient(netio.ClientConfig{Address: addr, ClientID: raftClientID(t.node.cfg.NodeID),
		MaxQueuedRequests: 4 * maxOutboxMessages, ReconnectBackoffMaxMs: 500, RequestSent: t.node.metrics.requestSent}, t.node.logger.Named("raft_client"))
	if err != nil {
		t.node.logger.Error("raft client not made", zap.String("address", addr), zap.Error(err))
		return nil
	}
	t.clients[to] = c
	return c
}

// poll asks the leader (or, while none is known or it has been silent
// too long, the voters in turn) for the messages it holds for this node,
// unless a poll is out.
func (t *raftTransport) poll(l quorum.Leadership) {
	if !t.poller || t.polling {
		return
	}
	now := t.node.cfg.Clock.Now().MonoMs
	if l.LeaderID != t.leader {
		t.leader, t.leaderHeardMs = l.LeaderID, now
	}
	target := l.LeaderID
	if target < 0 || t.node.cfg.voterAddress(target) == "" || now-t.leaderHeardMs > t.timeout.Milliseconds() {
		voters := t.node.cfg.QuorumVoters
		target = voters[t.nextVoter%len(voters)].NodeID
		t.nextVoter++
	}
	if c := t.client(target); c != nil {
		t.polling = true
		t.sendFrame(c, target, nil, 0, true)
	}
}

func (t *raftTransport) close() {
	for _, c := range t.clients {
		_ = c.Close()
	}
}

func raftClientID(node int32) string { return "gregor-raft-" + strconv.Itoa(int(node)) }

// inbound steps a frame's messages; its answer, what is held for the
// sender, waits for the Ready they cause (answer). It says whether the
// frame was taken.
func (a *quorumActor) inbound(msg *raftInbound) bool {
	req := msg.req
	if known := a.node.ClusterID(); known != "" && req.ClusterID != "" && req.ClusterID != known {
		a.logger.Warn("raft frame from another cluster refused", zap.Int32("from", req.From),
			zap.String("their_cluster_id", req.ClusterID), zap.String("cluster_id", known))
		msg.respond(&raftResponse{ErrorCode: kerr.InconsistentClusterID.Code})
		return false
	}
	now := a.node.cfg.Clock.Now()
	for _, m := range req.Messages {
		a.stepped(req.From, a.core.StepBytes(now, m))
	}
	a.answers = append(a.answers, msg)
	return true
}

// answer answers the frames stepped before the last Ready, each with what
// is held for its sender.
func (a *quorumActor) answer() {
	for i, msg := range a.answers {
		msg.respond(&raftResponse{Messages: a.net.take(msg.req.From)})
		a.answers[i] = nil
	}
	a.answers = a.answers[:0]
}

// delivered takes the outcome of a frame: raft hears of a node it could not
// reach and of every snapshot sent, and steps what the answer carries.
func (a *quorumActor) delivered(d *raftDelivered) {
	t := a.net
	if d.poll {
		t.polling = false
	}
	failed := d.err != nil || (d.resp != nil && d.resp.ErrorCode != 0)
	for range d.snapshots {
		a.core.ReportSnapshot(d.to, !failed)
	}
	if failed {
		if !t.unreachable[d.to] {
			a.logger.Info("metadata quorum peer unreachable", zap.Int32("peer", d.to), zap.Error(d.err))
		}
		t.unreachable[d.to] = true
		a.core.ReportUnreachable(d.to)
		return
	}
	if t.unreachable[d.to] {
		delete(t.unreachable, d.to)
		a.logger.Info("metadata quorum peer reachable again", zap.Int32("peer", d.to))
	}
	if d.resp == nil {
		return
	}
	now := a.node.cfg.Clock.Now()
	if d.poll && d.to == t.leader && len(d.resp.Messages) > 0 {
		t.leaderHeardMs = now.MonoMs
	}
	for _, m := range d.resp.Messages {
		a.stepped(d.to, a.core.StepBytes(now, m))
	}
	if d.poll && len(d.resp.Messages) > 0 {
		// More may be waiting: ask again at once.
		t.poll(a.core.Leadership())
	}
}

// stepped notes the error of stepping a message from node: a voter that
// lost its metadata log fails the node (quorum.ErrLogLost); any other
// message is only not taken.
func (a *quorumActor) stepped(from int32, err error) {
	switch {
	case errors.Is(err, quorum.ErrLogLost):
		a.lost = err
	case err != nil:
		a.logger.Debug("raft message not taken", zap.Int32("from", from), zap.Error(err))
	}
}

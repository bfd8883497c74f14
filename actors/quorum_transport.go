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
	outbox  *quorum.Outbox
	// learner, for a node without a CONTROLLER listener the others know,
	// decides which voter it polls for its messages (nil: a voter).
	learner     *quorum.LearnerPoll
	timeout     time.Duration
	unreachable map[int32]bool
}

func newRaftTransport(n *Node, core *quorum.Quorum, self *actor.PID) *raftTransport {
	t := &raftTransport{
		node: n, core: core, self: self,
		clients:     map[int32]*netio.Client{},
		outbox:      quorum.NewOutbox(),
		timeout:     2 * time.Duration(n.cfg.QuorumElectionTimeoutMs) * time.Millisecond,
		unreachable: map[int32]bool{},
	}
	if len(n.cfg.QuorumVoters) > 0 && n.cfg.voterAddress(n.cfg.NodeID) == "" {
		voters := make([]int32, len(n.cfg.QuorumVoters))
		for i, v := range n.cfg.QuorumVoters {
			voters[i] = v.NodeID
		}
		t.learner = quorum.NewLearnerPoll(voters, t.timeout.Milliseconds())
	}
	return t
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
			t.hold(to, quorum.HeldMessage{Data: m, Snapshot: snapshots > 0})
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
func (t *raftTransport) hold(to int32, m quorum.HeldMessage) {
	if dropped, ok := t.outbox.Hold(to, m); ok && dropped.Snapshot {
		t.core.ReportSnapshot(to, false)
	}
}

// take hands out what is held for a node.
func (t *raftTransport) take(to int32) [][]byte {
	box := t.outbox.Take(to)
	if len(box) == 0 {
		return nil
	}
	out := make([][]byte, len(box))
	for i, m := range box {
		out[i] = m.Data
		if m.Snapshot {
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
		MaxQueuedRequests: 4 * quorum.MaxOutboxMessages, ReconnectBackoffMaxMs: 500, RequestSent: t.node.metrics.requestSent}, t.node.logger.Named("raft_client"))
	if err != nil {
		t.node.logger.Error("raft client not made", zap.String("address", addr), zap.Error(err))
		return nil
	}
	t.clients[to] = c
	return c
}

// poll asks the voter the learner's poll picks (quorum.LearnerPoll: the
// leader, or the voters in turn) for the messages it holds for this node,
// unless a poll is out.
func (t *raftTransport) poll(l quorum.Leadership) {
	if t.learner == nil {
		return
	}
	nowMs := t.node.cfg.Clock.Now().MonoMs
	target, ok := t.learner.Poll(l.LeaderID, nowMs)
	if !ok {
		return
	}
	if c := t.client(target); c != nil {
		t.sendFrame(c, target, nil, 0, true)
		return
	}
	t.learner.Failed(nowMs)
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
		if a.node.cfg.voterAddress(msg.req.From) == "" {
			a.resignHeard(msg.req.From) // a learner's poll
		}
		a.answers[i] = nil
	}
	a.answers = a.answers[:0]
}

// delivered takes the outcome of a frame: raft hears of a node it could not
// reach and of every snapshot sent, and steps what the answer carries.
func (a *quorumActor) delivered(d *raftDelivered) {
	t := a.net
	now := a.node.cfg.Clock.Now()
	failed := d.err != nil || (d.resp != nil && d.resp.ErrorCode != 0)
	again := false
	if d.poll && t.learner != nil {
		if failed || d.resp == nil {
			t.learner.Failed(now.MonoMs)
		} else {
			again = t.learner.Answered(d.to, len(d.resp.Messages) > 0, now.MonoMs)
		}
	}
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
	for _, m := range d.resp.Messages {
		a.stepped(d.to, a.core.StepBytes(now, m))
	}
	if again {
		// More may be waiting: ask again at once.
		t.poll(a.core.Leadership())
	}
}

// stepped notes the error of stepping a message from node: a voter that
// lost a part of its metadata log fails the node (quorum.ErrLogLost); any other
// message is only not taken.
func (a *quorumActor) stepped(from int32, err error) {
	switch {
	case errors.Is(err, quorum.ErrLogLost):
		a.lost = err
	case err != nil:
		a.logger.Debug("raft message not taken", zap.Int32("from", from), zap.Error(err))
	}
}

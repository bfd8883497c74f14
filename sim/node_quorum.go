package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/cluster/quorum"
)

// The metadata shell of a node: it carries out the quorum core's Readys in
// the order quorum.Ready prescribes (persist, send, apply, tell, advance),
// keeps the node's metadata image, runs the controller core while the
// quorum says this node leads actively, proposes its records and feeds it
// their fate.

// settle carries out everything the quorum and the controller have to do,
// until neither has anything left.
func (n *node) settle() {
	for i := 0; n.up && n.failing == nil; i++ {
		if i > 1000 {
			n.w.violation("L2", fmt.Sprintf("%s: the quorum and the controller do not settle", n.name()))
			return
		}
		before := n.image
		progress := false
		if n.q.HasReady() {
			n.handleReady()
			progress = true
		}
		if n.driveController() {
			progress = true
		}
		if n.image != before {
			n.imageChanged()
		}
		if !progress {
			n.addLearners()
			n.tellNoController()
			return
		}
	}
}

// handleReady carries out one Ready of the quorum core.
func (n *node) handleReady() {
	rd := n.q.Ready()
	for _, env := range rd.SendFirst {
		n.sendRaft(env)
	}
	if err := n.raftLog.Save(rd.Persist); err != nil {
		n.fail(fmt.Errorf("persist the metadata log: %w", err))
		return
	}
	for _, env := range rd.Messages {
		n.sendRaft(env)
	}
	if s := rd.Snapshot; s != nil {
		img, err := cluster.ImageFromSnapshot(s.Batch.Epoch, s.Batch.Records)
		if err != nil {
			n.w.violation("S9", fmt.Sprintf("%s: metadata snapshot at offset %d does not load: %v", n.name(), s.Offset, err))
			return
		}
		n.image = img
		n.w.checks.snapshotApplied(n, s)
	}
	for _, b := range rd.Committed {
		n.applyBatch(b)
	}
	if m := rd.Membership; m != nil {
		n.w.tracef("%s: quorum voters %v learners %v", n.name(), m.Voters, m.Learners)
	}
	for _, p := range rd.Proposals {
		n.proposalSettled(p)
	}
	if l := rd.Leadership; l != nil {
		n.leadershipChanged(*l)
	}
	n.q.Advance()
	if rd.CaughtUp {
		n.caughtUp()
	}
	if n.ctrl.Active() && n.ctrl.Image().Epoch != n.image.Epoch && len(n.ctrlProposals) == 0 {
		n.w.violation("S9", fmt.Sprintf("%s: the active controller's committed image is at epoch %d, the applied log at %d",
			n.name(), n.ctrl.Image().Epoch, n.image.Epoch))
	}
	n.w.checks.noteHold(n)
	if rd.SnapshotDue {
		n.takeSnapshot()
	}
}

// sendRaft puts a raft message on the network, telling raft what it must
// know of its delivery (unreachable nodes, snapshots).
func (n *node) sendRaft(env quorum.Envelope) {
	data, err := quorum.MarshalMessage(env.Message)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal a raft message: %v", err))
	}
	if !n.w.isVoter(env.To) {
		// A learner: held until it polls (node_learner.go).
		n.holdRaft(env.To, data, env.CarriesSnapshot())
		return
	}
	if n.learner != nil {
		// From a learner: in a frame whose answer brings what the voter
		// holds for it (node_learner.go).
		n.sendLearnerFrame(env.To, data)
		return
	}
	cut := n.w.net.cut[linkKey{n.id, env.To}]
	if cut {
		n.q.ReportUnreachable(env.To)
	}
	if env.CarriesSnapshot() {
		n.q.ReportSnapshot(env.To, !cut)
	}
	n.w.net.send(&message{from: n.id, to: env.To, kind: msgRaft, body: data})
}

// applyBatch applies one committed metadata batch to the node's image.
func (n *node) applyBatch(b quorum.CommittedBatch) {
	if b.Batch.Epoch != n.image.Epoch {
		n.w.violation("S9", fmt.Sprintf("%s: metadata batch for image epoch %d committed at offset %d, the image is at epoch %d",
			n.name(), b.Batch.Epoch, b.Offset, n.image.Epoch))
		return
	}
	next, err := n.image.Apply(b.Batch.Records...)
	if err != nil {
		n.w.violation("S9", fmt.Sprintf("%s: committed metadata batch at offset %d does not apply: %v", n.name(), b.Offset, err))
		return
	}
	n.w.checks.batchCommitted(n, b, n.image, next)
	n.image = next
}

func (n *node) takeSnapshot() {
	data := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Epoch: n.image.Epoch, Records: n.image.SnapshotRecords()})
	snap, err := n.q.Snapshot(data)
	if err != nil {
		n.w.violation("S9", fmt.Sprintf("%s: metadata snapshot refused: %v", n.name(), err))
		return
	}
	if err := n.raftLog.Compact(snap); err != nil {
		n.fail(fmt.Errorf("compact the metadata log: %w", err))
	}
}

// proposalSettled hands the fate of a controller proposal to the
// controller: a committed batch must be the oldest one proposed. A
// proposal lost with the leadership is answered by the resignation.
func (n *node) proposalSettled(p quorum.ProposalOutcome) {
	i := slices.IndexFunc(n.ctrlProposals, func(c ctrlProposal) bool { return c.id == p.ID })
	if i < 0 {
		return
	}
	c := n.ctrlProposals[i]
	n.ctrlProposals = slices.Delete(n.ctrlProposals, i, i+1)
	if p.Fate != quorum.ProposalCommitted {
		return
	}
	if i != 0 {
		n.w.violation("S9", fmt.Sprintf("%s: controller batch of epoch %d committed before an older one", n.name(), c.epoch))
		return
	}
	n.ctrl.Committed(c.epoch)
}

// leadershipChanged starts the controller when the quorum makes this node
// the active leader, and stops it when that ends.
func (n *node) leadershipChanged(l quorum.Leadership) {
	n.w.checks.raftLeadership(n, l)
	prev := n.leadership
	n.leadership = l
	now := n.instant()
	switch {
	case l.Active && !n.ctrl.Active():
		n.ctrl.BecomeLeader(n.image, now)
		if l.Predecessor >= 0 {
			n.ctrl.Predecessor(now, l.Predecessor, l.PredecessorSinceMs)
		}
		n.replayConnsClosed()
		n.ctrlProposals = nil
		n.w.stats.ControllerChanges++
		n.w.timelinef("controller: %s active (quorum epoch %d)", n.name(), l.LeaderEpoch)
		n.w.rec.mark(n.w.now, "controller", nil, "controller %s active (quorum epoch %d)", n.name(), l.LeaderEpoch)
	case !l.Active && n.ctrl.Active():
		n.ctrl.ResignLeadership()
		n.ctrlProposals = nil
		n.w.timelinef("controller: %s resigned (quorum epoch %d, leader %d)", n.name(), l.LeaderEpoch, l.LeaderID)
	}
	if l.LeaderID != prev.LeaderID && l.LeaderID == n.id {
		n.w.tracef("%s: leads the quorum in epoch %d", n.name(), l.LeaderEpoch)
	}
	if n.lifecycle != nil && (l.LeaderID != prev.LeaderID || l.Resigned != prev.Resigned) {
		// A heartbeat stuck at the controller before goes again, to this
		// one (as the broker lifecycle actor hears of the quorum actor);
		// a resignation tells a last broker that no controller is left.
		n.lifecycle.QuorumLeader(now, l.LeaderID)
		n.noController = n.noControllerPast()
		n.lifecycle.QuorumResigned(now, n.noController)
		n.driveLifecycle()
	}
	if n.handOffDone != nil && l.LeaderID != n.id {
		n.handedOff()
	}
}

// handOffLeadership hands the quorum's leadership on before the process
// stops gracefully, as production's node does after its controlled
// shutdown (actors/broker_lifecycle_node.go, bounded by an election
// timeout): the quorum core picks the voter, and then runs once another
// node leads, once the election timeout passed, or at once when this node
// does not lead.
func (n *node) handOffLeadership(then func()) {
	if n.q == nil || len(n.w.voters) < 2 {
		then()
		return
	}
	// Its controlled shutdown is over: it needs no controller now.
	n.q.Stopping(false)
	n.settle()
	if !n.up || n.q == nil {
		return
	}
	to, err := n.q.HandOffLeadership()
	if err != nil || to < 0 {
		if err != nil {
			n.w.tracef("%s: quorum leadership not handed off: %v", n.name(), err)
		}
		if n.q.Resigned() {
			// Its notices go out before the process stops.
			n.w.timelinef("controller: %s resigns the quorum's leadership: every other voter is stopping", n.name())
			n.settle()
		}
		then()
		return
	}
	n.w.timelinef("controller: %s hands the quorum's leadership to n%d", n.name(), to)
	n.handOffDone = then
	n.after(n.w.timing.electionTimeoutMs, n.handedOff)
	n.settle()
}

// noControllerPast is the offset past which no controller commits, as the
// node knows: its leader resigned, or it leads alone among voters that all
// stop; -1 when a controller may (as production's quorum actor tells its
// broker lifecycle: actors/quorum_stop.go).
func (n *node) noControllerPast() int64 {
	if l := n.leadership; l.Resigned {
		return l.ResignedOffset
	}
	if n.q != nil {
		if committed, ok := n.q.StoppingAlone(); ok {
			return committed
		}
	}
	return -1
}

// tellNoController tells the broker lifecycle when noControllerPast
// changed.
func (n *node) tellNoController() {
	if n.lifecycle == nil {
		return
	}
	if off := n.noControllerPast(); off != n.noController {
		n.noController = off
		n.lifecycle.QuorumResigned(n.instant(), off)
		n.driveLifecycle()
	}
}

// handedOff ends a hand-off of the quorum's leadership: the process may
// stop.
func (n *node) handedOff() {
	if done := n.handOffDone; done != nil {
		n.handOffDone = nil
		n.post(done)
	}
}

// driveController carries out the controller's Ready: its proposals go to
// the quorum (a refused one and all after it are lost), its answers back to
// whoever asked. It says whether there was anything.
func (n *node) driveController() bool {
	any := false
	for {
		rd := n.ctrl.Ready()
		if rd.Empty() {
			return any
		}
		any = true
		for _, p := range rd.Proposals {
			data := cluster.AppendMetadataBatch(nil, p.Batch)
			id, err := n.q.Propose(data)
			if err != nil {
				code := kerr.NotController
				if !errors.Is(err, quorum.ErrNotLeader) {
					code = kerr.RequestTimedOut
				}
				n.w.tracef("%s: controller batch of epoch %d not proposed: %v", n.name(), p.Batch.Epoch, err)
				n.ctrl.Lost(p.Batch.Epoch, code)
				break
			}
			n.ctrlProposals = append(n.ctrlProposals, ctrlProposal{id: id, epoch: p.Batch.Epoch})
		}
		for _, a := range rd.Answers {
			if req, ok := a.Token.(*message); ok {
				n.w.respond(req, a.Response)
			}
		}
	}
}

// serveController takes a request of the controller listener.
func (n *node) serveController(m *message, req kmsg.Request) {
	if n.ctrl != nil && n.q != nil {
		n.ctrl.LeadershipHolds(n.q.LeadershipHoldsUntilMs())
		n.w.checks.noteHold(n)
	}
	if n.ctrl == nil || !n.ctrl.Handle(n.instant(), req, m) {
		panic(fmt.Sprintf("sim: %s got %T, which the controller does not serve", n.name(), req))
	}
	n.settle()
}

// addLearners has the active leader add the registered brokers that are not
// members of the quorum as learners, one at a time.
func (n *node) addLearners() {
	if !n.leadership.Active || len(n.w.voters) == len(n.w.nodes) {
		return
	}
	m := n.q.Membership()
	for b := range n.image.Brokers() {
		if slices.Contains(m.Voters, b.ID) || slices.Contains(m.Learners, b.ID) {
			continue
		}
		if _, err := n.q.AddLearner(b.ID); err == nil {
			n.w.tracef("%s: adds broker %d to the quorum as a learner", n.name(), b.ID)
			n.settle()
		}
		return
	}
}

// controllerTarget is where the broker sends controller requests: the
// quorum leader it knows, else the voters in turn.
func (n *node) controllerTarget() int32 {
	if l := n.leadership.LeaderID; l >= 0 {
		return l
	}
	return n.w.voters[n.controllerGuess%len(n.w.voters)]
}

// controllerMissed notes that a controller request failed: the next one
// tries another voter, unless the quorum names a leader.
func (n *node) controllerMissed() { n.controllerGuess++ }

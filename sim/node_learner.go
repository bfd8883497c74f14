package sim

import (
	"fmt"
	"slices"

	"gregor/cluster/quorum"
)

// Learners poll, as in production (actors/quorum_transport.go): a node
// that is not a voter of the metadata quorum (a broker-only node of a
// cluster of four or more) has no CONTROLLER listener the others know, so
// the raft messages for it are held by their sender (quorum.Outbox) and
// handed out in the answers to the frames it sends: its own messages to a
// voter, and empty frames, its polls, every raft tick and again at once
// after a poll's answer that carried some, to the voter quorum.LearnerPoll
// picks: the leader it knows, or, while none is known or that one's polls
// brought nothing for twice the election timeout, the voters in turn.
// Whatever the network does to a frame or its answer (loss, delay, a cut
// link, a clog, the metadata lag) is what reaches the learner's raft.

// raftPoll is a learner's raft frame: its messages for the receiver (none
// in a poll), answered, once the receiver stepped them and carried out
// what followed, with the messages it holds for the sender.
type raftPoll struct{ msgs [][]byte }

// raftPollAnswer carries the messages held for the poller, oldest first.
type raftPollAnswer struct{ msgs [][]byte }

// isLearnerFrame says a message body is a learner's raft frame or its
// answer.
func isLearnerFrame(body any) bool {
	switch body.(type) {
	case *raftPoll, *raftPollAnswer:
		return true
	}
	return false
}

// isVoter says whether a node is a voter of the metadata quorum.
func (w *World) isVoter(id int32) bool { return slices.Contains(w.voters, id) }

// startLearnerPoll gives a new process its outbox, and a learner its poll.
func (n *node) startLearnerPoll() {
	n.outbox, n.learner = quorum.NewOutbox(), nil
	if !n.w.isVoter(n.id) {
		n.learner = quorum.NewLearnerPoll(n.w.voters, 2*n.w.timing.electionTimeoutMs)
	}
}

// holdRaft keeps a raft message for a learner until it polls; a full box
// drops its oldest message, and raft hears of a snapshot lost so.
func (n *node) holdRaft(to int32, data []byte, snapshot bool) {
	if dropped, ok := n.outbox.Hold(to, quorum.HeldMessage{Data: data, Snapshot: snapshot}); ok {
		n.w.stats.LearnerMessagesDropped++
		if dropped.Snapshot {
			n.q.ReportSnapshot(to, false)
		}
	}
}

// pollRaft has a learner poll the voter its poll picks, unless a poll is
// out.
func (n *node) pollRaft() {
	if n.learner == nil || n.q == nil {
		return
	}
	target, ok := n.learner.Poll(n.q.Leadership().LeaderID, n.instant().MonoMs)
	if !ok {
		return
	}
	w, inc := n.w, n.inc
	if l := n.q.Leadership().LeaderID; w.opts.Plant == PlantPollLeaderOnly && l >= 0 && l != target {
		target = l
		w.stats.PlantFired++
	}
	w.stats.LearnerPolls++
	if l := n.q.Leadership().LeaderID; l >= 0 && l != target {
		w.stats.LearnerPollsAway++
	}
	w.call(n, n.id, target, &raftPoll{}, 2*w.timing.electionTimeoutMs, func(body any, err error) {
		if n.inc != inc || !n.up || n.q == nil {
			return
		}
		ans, _ := body.(*raftPollAnswer)
		if err != nil || ans == nil {
			n.learner.Failed(n.instant().MonoMs)
			return
		}
		again := n.learner.Answered(target, len(ans.msgs) > 0, n.instant().MonoMs)
		for _, m := range ans.msgs {
			if err := n.q.StepBytes(n.instant(), m); err != nil {
				w.violation("S9", fmt.Sprintf("%s: raft message from %s refused: %v", n.name(), endpointName(target), err))
				return
			}
		}
		n.settle()
		if again {
			n.pollRaft()
		}
	})
}

// sendLearnerFrame sends a learner's raft message to a voter in a frame
// whose answer brings what the voter holds for it.
func (n *node) sendLearnerFrame(to int32, data []byte) {
	w, inc := n.w, n.inc
	w.call(n, n.id, to, &raftPoll{msgs: [][]byte{data}}, 2*w.timing.electionTimeoutMs, func(body any, err error) {
		if n.inc != inc || !n.up || n.q == nil {
			return
		}
		ans, _ := body.(*raftPollAnswer)
		if err != nil || ans == nil {
			n.q.ReportUnreachable(to)
			n.settle()
			return
		}
		for _, m := range ans.msgs {
			if err := n.q.StepBytes(n.instant(), m); err != nil {
				w.violation("S9", fmt.Sprintf("%s: raft message from %s refused: %v", n.name(), endpointName(to), err))
				return
			}
		}
		n.settle()
	})
}

// serveRaftPoll steps a learner's frame's messages, then answers with what
// the node holds for it; raft hears of each snapshot handed out (of a
// loss, from the learner's answers).
func (n *node) serveRaftPoll(m *message, req *raftPoll) {
	if len(req.msgs) > 0 && n.q != nil {
		for _, data := range req.msgs {
			if err := n.q.StepBytes(n.instant(), data); err != nil {
				n.w.violation("S9", fmt.Sprintf("%s: raft message from %s refused: %v", n.name(), endpointName(m.from), err))
				return
			}
		}
		n.settle()
	}
	ans := &raftPollAnswer{}
	if n.outbox != nil {
		for _, h := range n.outbox.Take(m.from) {
			ans.msgs = append(ans.msgs, h.Data)
			if h.Snapshot && n.q != nil {
				n.q.ReportSnapshot(m.from, true)
			}
		}
	}
	n.w.respond(m, ans)
}

package quorum

import (
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// ErrLogLost is Step's error on a voter whose metadata log lost entries it
// had acknowledged while keeping others (its log rolled back: a disk that
// lied about a sync, a directory restored from an old copy): the leader's
// heartbeat commits past the end of its log. Such a voter must not go on:
// its acknowledgements counted towards commits and its vote may have been
// cast in the current term, and with a log that is not empty it is not
// catching up (catch_up.go), so nothing keeps it from voting by what it
// lost. The node stops; an operator restores the directory, or empties the
// node's data directory whole so that it starts over and catches up. A
// voter that lost its whole log (its directory wiped, its disk replaced)
// starts over empty, catching up, and rejoins.
var ErrLogLost = errors.New("quorum: this voter's metadata log lost entries it had acknowledged")

// A node that lost its metadata log and restarted empty is still known to
// the leader that led before: raft's leader remembers, per member, the
// last index the member acknowledged (its match index), and never probes
// it below that index. So the leader's heartbeats carried a commit index
// past the empty log, which etcd raft takes for a corrupt log and panics
// on, and its appends were anchored where the member has nothing: the
// member could not catch up until another leader took over (a new leader
// knows no member's match index, and sends a snapshot to one that has
// nothing). Kafka's followers fetch from their log end, offset 0 when the
// log is gone, and the leader answers with its snapshot.
//
// Here the member and the leader each do their part:
//
//   - A heartbeat commits at most what the member acknowledged, which its
//     log held durably, and the log never shrinks but by loss: a heartbeat
//     committing past the end of the log says the log lost entries, however
//     late or out of order it came. A learner, or a voter that started over
//     from an empty log and is catching up, then takes the heartbeat with
//     its commit index lowered to the end of its log (a commit index is
//     knowledge, not a command, and knowing less is always safe), and
//     tells the leader, with a rejection of an append marked lostLogMark,
//     where its log ends. Any other voter refuses to go on (ErrLogLost).
//   - The leader, told by a learner that its log ends before the index it
//     acknowledged, removes it from the quorum and adds it again, one
//     membership change each (driveRelearn): the learner's progress then
//     starts afresh, and raft sends it the latest snapshot (which the
//     leader takes on adding a member, so it names the learner), then the
//     log. Voters cannot be removed and added again (Kafka's KIP-853), so
//     a leader told the same by a voter hands its leadership to another
//     voter (as on a graceful shutdown): the new leader knows no member's
//     match index and probes the voter from where its log ends. The voter,
//     catching up, votes for no one meanwhile, so it cannot help elect a
//     leader missing what it forgot, and it takes part again once it
//     applied an entry of its new leader's term. So a voter whose
//     directory was wiped rejoins whether or not the leader changed while
//     it was down, as a voter of Kafka's static quorum does. Raft's own
//     rejections are not taken for a lost log: under reordering a stale
//     one may say the log ends before the match index.

// lostLogMark marks, in a rejection's Context, the notice of a member
// that lost its log; raft never sees it.
const lostLogMark = "gregor-lost-log"

// lostLogHeartbeat checks a heartbeat against the end of this node's log
// (see above). A learner gets the heartbeat to step, its commit index
// lowered to the end of its log, and a notice for the leader queued; a
// voter gets ErrLogLost.
func (q *Quorum) lostLogHeartbeat(m *raftpb.Message) (*raftpb.Message, error) {
	if m.GetType() != raftpb.MsgHeartbeat {
		return m, nil
	}
	last := q.lastIndex()
	if m.GetCommit() <= last {
		return m, nil
	}
	voter := q.isVoterSelf()
	if voter && !q.catchingUp {
		q.logLost = true
		return nil, fmt.Errorf("%w: node %d, a voter, got a heartbeat of leader %d (epoch %d) committing offset %d, past the end of its metadata log (%d), "+
			"which is not empty: it lost a part of what it acknowledged and would vote by the rest; "+
			"restore its metadata log directory (metadata.log.dir), or empty the node's whole data directory (meta.properties too) "+
			"so that it starts over from an empty log and catches up from the other voters; until then the quorum runs on without this voter",
			ErrLogLost, q.cfg.NodeID, nodeID(m.GetFrom()), m.GetTerm(), m.GetCommit(), last)
	}
	if !q.lostLogNoted {
		q.lostLogNoted = true
		what, then := "learner", "which sends a snapshot"
		if voter {
			what, then = "voter", "which hands its leadership to another voter; this voter catches up from the next leader"
		}
		q.cfg.Logger.Warn("the metadata quorum's leader commits past the end of this "+what+"'s metadata log: it lost its log; telling the leader, "+then,
			zap.Int32("leader", nodeID(m.GetFrom())), zap.Uint64("commit", m.GetCommit()), zap.Uint64("last_offset", last))
	}
	q.lostLogNotices = append(q.lostLogNotices, &raftpb.Message{
		Type: raftpb.MsgAppResp.Enum(), To: proto.Uint64(m.GetFrom()), From: proto.Uint64(q.self), Term: proto.Uint64(m.GetTerm()),
		Index: proto.Uint64(m.GetCommit()), Reject: proto.Bool(true), RejectHint: proto.Uint64(last), Context: []byte(lostLogMark),
	})
	c := proto.Clone(m).(*raftpb.Message)
	c.Commit = proto.Uint64(last)
	return c, nil
}

// lastIndex is the index of the last entry of this node's log (its
// snapshot's when it holds no entry after it), counting the entries of a
// Ready not yet advanced.
func (q *Quorum) lastIndex() uint64 {
	last, _ := q.storage.LastIndex()
	if rd := q.outstanding; rd != nil {
		if n := len(rd.Entries); n > 0 {
			last = max(last, rd.Entries[n-1].GetIndex())
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			last = max(last, rd.Snapshot.GetMetadata().GetIndex())
		}
	}
	return last
}

// isVoterSelf says whether this node is a voter: of the membership it
// knows, or, knowing none, of controller.quorum.voters.
func (q *Quorum) isVoterSelf() bool {
	if voters := q.membership.GetVoters(); len(voters) > 0 {
		return slices.Contains(voters, q.self)
	}
	return slices.Contains(q.cfg.Voters, q.cfg.NodeID)
}

// lostLogNotice takes, on the active leader, a member's notice that it
// lost its log (a rejection marked lostLogMark, which raft never steps):
// if its log ends before the index it acknowledged in this term (a notice
// of an earlier leadership, or of a learner added again since, says
// nothing), a learner is to be removed and added again (driveRelearn),
// and for a voter this node hands its leadership to another voter. It
// says whether m was such a notice.
func (q *Quorum) lostLogNotice(m *raftpb.Message) bool {
	if m.GetType() != raftpb.MsgAppResp || string(m.GetContext()) != lostLogMark {
		return false
	}
	if !q.activeLeader() || m.GetTerm() != q.activeTerm {
		return true
	}
	from := m.GetFrom()
	var lost, learner bool
	var match uint64
	q.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if id == from {
			lost, learner, match = m.GetRejectHint() < pr.Match, pr.IsLearner, pr.Match
		}
	})
	node := nodeID(from)
	if lost && !learner {
		q.handOffFromLostVoter(node, match, m.GetRejectHint())
		return true
	}
	if !lost || slices.Contains(q.relearning, node) {
		return true
	}
	q.cfg.Logger.Info("a learner of the metadata quorum lost its metadata log: removing it and adding it again, to send it a snapshot",
		zap.Int32("learner", node), zap.Uint64("acknowledged", match), zap.Uint64("log_end", m.GetRejectHint()))
	q.relearning = append(q.relearning, node)
	return true
}

// handOffFromLostVoter hands this leader's leadership to a voter other
// than node, a voter whose log ends (at logEnd) before the index it
// acknowledged (match), unless a transfer is under way already. Only a
// voter heard from lately takes it (the next notice tries again): with
// none, no quorum runs without node anyway, and a transfer to a voter
// that is down would only refuse proposals for an election timeout.
func (q *Quorum) handOffFromLostVoter(node int32, match, logEnd uint64) {
	if q.rn.Status().LeadTransferee != raft.None {
		return
	}
	to, err := q.handOffLeadershipExcept(node, true)
	if err != nil || to < 0 {
		return
	}
	q.cfg.Logger.Info("a voter of the metadata quorum lost its metadata log: handing the leadership to another voter, "+
		"which probes it from where its log ends",
		zap.Int32("voter", node), zap.Uint64("acknowledged", match), zap.Uint64("log_end", logEnd), zap.Int32("to", to))
}

// driveRelearn removes each learner that lost its log from the quorum and
// adds it again, one membership change at a time, while this node is the
// active leader. Another leader forgets the list: it knows no member's
// match index, so raft probes the learner from its log end and sends it a
// snapshot anyway.
func (q *Quorum) driveRelearn() {
	for len(q.relearning) > 0 {
		if !q.activeLeader() {
			q.relearning, q.relearnRemoving = nil, false
			return
		}
		if q.proposals.membershipPending() || q.advancedIndex < q.appliedIndex {
			return
		}
		node := q.relearning[0]
		learner := slices.Contains(q.membership.GetLearners(), raftID(node))
		switch {
		case learner && !q.relearnRemoving:
			id, err := q.RemoveNode(node)
			if err != nil {
				return
			}
			q.relearnIDs = append(q.relearnIDs, id)
			q.relearnRemoving = true
			return
		case !learner && !q.isMember(node):
			id, err := q.AddLearner(node)
			if err != nil {
				return
			}
			q.relearnIDs = append(q.relearnIDs, id)
		}
		// Added again (by this core or the shell), or removal refused
		// and someone else's change applied meanwhile: done with it.
		q.relearning, q.relearnRemoving = q.relearning[1:], false
	}
}

// ownOutcomes leaves out of outcomes the fates of the membership changes
// driveRelearn proposed, which no caller waits for.
func (q *Quorum) ownOutcomes(outcomes []ProposalOutcome) []ProposalOutcome {
	if len(q.relearnIDs) == 0 {
		return outcomes
	}
	return slices.DeleteFunc(outcomes, func(o ProposalOutcome) bool {
		i := slices.Index(q.relearnIDs, o.ID)
		if i >= 0 {
			q.relearnIDs = slices.Delete(q.relearnIDs, i, i+1)
		}
		return i >= 0
	})
}

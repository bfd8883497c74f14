package quorum

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// When the leader goes silent, raft makes each follower campaign after its
// own randomized election timeout, drawn anew between one and two election
// timeouts: after a kill of the controller's node the survivors waited
// 0.86-1.63 s (logs of 30 kills), though their check-quorum leases had
// lapsed after one election timeout and gossip had reported the node gone
// after 0.8-1.1 s. And two followers that drew the same number of ticks
// campaigned together, granted each other's pre-votes, voted for
// themselves and split the vote: another timeout without a controller.
//
// Two rules cut both, deciding nothing raft's own rules would not:
//
//   - The successor campaigns on time. The voters after the silent leader,
//     in the order of their node ids from the leader's on (round the
//     ring), have ranks 0, 1, ...; a follower of rank r that has heard
//     nothing from its leader for ElectionTick + r*successorStaggerTicks
//     ticks campaigns (with pre-vote) then, as raft would had it drawn
//     that timeout. The first survivor after the dead leader campaigns
//     after one election timeout, the next one a stagger later if the
//     first is dead too; raft's own draw stays as a fallback. A follower
//     campaigns no sooner than raft could, so the leader's hold
//     (leadership_hold.go) still holds.
//
//   - A pre-candidate yields no pre-vote to a later voter. For the first
//     ticks of its candidacy (1+preVoteRetries) a pre-candidate drops the
//     pre-vote request of a pre-candidate with a higher node id whose log
//     is not ahead of its own: that one grants this node's request (it
//     is not ahead), so one of two pre-candidates that met becomes a
//     candidate, and the other votes for it. Dropping is raft's own
//     answer while it hears from a leader; after those ticks (a node that
//     cannot win, cut off from the others) raft's rules alone apply, so no
//     voter is kept from an election for long.

// successorStaggerTicks separates the ranks of successorRank: the ticks a
// later successor gives an earlier one to win the election first.
const successorStaggerTicks = 2

// leaderSilence counts the ticks a follower has heard nothing from its
// leader in its term, as raft's electionElapsed does, resetting it at
// least whenever raft does: on each append, heartbeat, snapshot or
// TimeoutNow, and on any change of leader, term or role.
type leaderSilence struct {
	lead, term uint64
	ticks      int
}

// heardFromLeader resets the silence when m is one raft resets its
// election clock on.
func (q *Quorum) heardFromLeader(m *raftpb.Message) {
	switch m.GetType() {
	case raftpb.MsgApp, raftpb.MsgHeartbeat, raftpb.MsgSnap, raftpb.MsgTimeoutNow:
		q.silence.ticks = 0
	}
}

// campaignAsSuccessor counts one more tick of the leader's silence and
// campaigns when this follower's rank is due (the comment above).
func (q *Quorum) campaignAsSuccessor() {
	st := q.rn.BasicStatus()
	if st.RaftState != raft.StateFollower || st.Lead == raft.None || st.Lead != q.silence.lead || st.GetTerm() != q.silence.term {
		q.silence = leaderSilence{lead: st.Lead, term: st.GetTerm()}
		return
	}
	q.silence.ticks++
	rank := q.successorRank(st.Lead)
	if rank < 0 || q.silence.ticks != q.cfg.electionTicks()+rank*successorStaggerTicks {
		return
	}
	q.cfg.Logger.Info("the metadata quorum's leader went silent: its successor campaigns",
		zap.Int32("leader", nodeID(st.Lead)), zap.Int("rank", rank))
	if err := q.rn.Campaign(); err != nil {
		panic(fmt.Sprintf("quorum: campaign as the silent leader's successor: %v", err))
	}
}

// successorRank is this node's place among the voters after lead, in the
// order of node ids from lead's on, round the ring (0: the next voter);
// -1 when either is no voter.
func (q *Quorum) successorRank(lead uint64) int {
	voters := slices.Sorted(slices.Values(q.membership.GetVoters()))
	i, j := slices.Index(voters, lead), slices.Index(voters, q.self)
	if i < 0 || j < 0 || i == j {
		return -1
	}
	return (j - i - 1 + len(voters)) % len(voters)
}

// yieldsNoPreVote says whether to drop m, a pre-vote request, because this
// node is a pre-candidate of at most 1+preVoteRetries ticks with a lower
// node id than the requester's and a log not behind the one m advertises
// (the comment above). The log compared is the stored one, which the
// unstable entries only lengthen.
func (q *Quorum) yieldsNoPreVote(m *raftpb.Message) bool {
	if m.GetType() != raftpb.MsgPreVote || q.rn.BasicStatus().RaftState != raft.StatePreCandidate ||
		q.preCandidateFor > 1+preVoteRetries || nodeID(m.GetFrom()) <= q.cfg.NodeID {
		return false
	}
	last, err := q.storage.LastIndex()
	if err != nil {
		return false
	}
	term, err := q.storage.Term(last)
	if err != nil {
		return false
	}
	return term > m.GetLogTerm() || term == m.GetLogTerm() && last >= m.GetIndex()
}

// countPreCandidacy counts the ticks this node has been a pre-candidate in
// a row (yieldsNoPreVote).
func (q *Quorum) countPreCandidacy() {
	if q.rn.BasicStatus().RaftState == raft.StatePreCandidate {
		q.preCandidateFor++
	} else {
		q.preCandidateFor = 0
	}
}

package quorum

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// How long the leader knows that no other node can lead: raft runs with
// check-quorum, under which a voter that heard from its leader within an
// election timeout ignores every (pre-)vote request but a leadership
// transfer's. A voter that answered a heartbeat the leader sent at time t
// heard from it no sooner than t, so it grants no vote before t plus an
// election timeout (less one tick: its election clock counts whole ticks).
// Once a majority of the voters (this node among them) answered
// heartbeats sent at t or later, no other node gathers the votes to lead
// before then. The controller grants broker leases only within that time
// (cluster.Controller.LeadershipHolds): a deposed controller that has not
// noticed yet grants none after its successor could have started.
//
// A voter that restarts forgets its leader, and raft's check-quorum would
// let it vote at once, though it may have answered a heartbeat just before
// it stopped. So for an election timeout after it starts a voter ignores
// (pre-)vote requests of a later term but a leadership transfer's, as
// raft does while it hears from a leader (the Raft thesis' leader
// stickiness): it grants no vote before its last answer plus an election
// timeout either.
//
// The leader counts itself among that majority, so it grants no vote
// before its hold either, also once deposed: a voter campaigning in a
// later term answers the leader's heartbeat with that term (raft's answer
// to a stale leader), the leader steps down to a follower of the term
// with no leader, and raft would grant that candidate its vote at once,
// electing it with one other voter while the old leader's hold still
// runs (the simulator's seed 1401: the leader cut off past an election
// timeout, a follower that won a pre-vote, the partition healed).
//
// The leader learns it without a message of its own: it marks each
// heartbeat it sends with the term and the time in raft's Context, which
// the follower sends back in its answer (raft does so for ReadIndex; the
// quorum issues no ReadIndex, so Context is otherwise empty).

// holdDriftPermille is how much shorter than the followers' election
// timeout the hold is, in thousandths, for clocks that run at different
// rates (as cluster.BrokerLeaseMs allows).
const holdDriftPermille = 100

// heartbeatMarkLen is the length of a heartbeat's mark: a tag byte, the
// term and the monotonic ms it was sent at.
const heartbeatMarkLen = 17

// heartbeatMarkTag starts a heartbeat's mark.
const heartbeatMarkTag = 'h'

// campaignTransfer is the context raft gives the vote requests of a
// leadership transfer, which no lease holds back.
const campaignTransfer = "CampaignTransfer"

// ignoresVoteRequest says whether to drop m: a leadership transfer's
// (pre-)vote request that reaches this node while it leads and hands its
// leadership to no one, or to another node (a transfer it gave up, raft
// gives one up after an election timeout, whose MsgTimeoutNow reached its
// transferee late: the leader's hold stands again, and its own vote
// would elect the transferee before it passed); a (pre-)vote request that is
// no leadership transfer's, because this node's hold as a leader has not
// passed yet; or, for one of its term or a later one, because it took a
// leader's message less than an election timeout ago (lease.go); or, for
// one of a later term, because this node started less than an election
// timeout ago (see above). Dropping it is raft's own answer while it hears
// from a leader: no answer at all. One of an earlier term, or of its term
// while it follows a leader, raft refuses.
func (q *Quorum) ignoresVoteRequest(m *raftpb.Message) bool {
	if m.GetType() != raftpb.MsgVote && m.GetType() != raftpb.MsgPreVote {
		return false
	}
	if string(m.GetContext()) == campaignTransfer {
		st := q.rn.BasicStatus()
		return st.RaftState == raft.StateLeader && st.LeadTransferee != m.GetFrom()
	}
	if q.now.MonoMs < q.heldUntilMs {
		return true
	}
	st := q.rn.BasicStatus()
	term := st.GetTerm()
	if m.GetTerm() < term || m.GetTerm() == term && st.Lead != raft.None {
		// Raft refuses it.
		return false
	}
	if q.inLease() {
		return true
	}
	if m.GetTerm() == term {
		return false
	}
	return !q.started || q.ticks < int64(q.cfg.electionTicks())
}

// beatOnLeading makes a node that just became the leader send every
// follower a (marked) heartbeat at once, beside the append of its term's
// first entry, rather than at its next heartbeat tick: it holds, and its
// controller grants leases, as soon as a majority answered, not up to a
// tick later. Raft takes a local MsgBeat through RawNode.Step only from a
// local sender, hence LocalAppendThread.
func (q *Quorum) beatOnLeading() {
	st := q.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || q.beatTerm == st.GetTerm() {
		return
	}
	q.beatTerm = st.GetTerm()
	if err := q.rn.Step(&raftpb.Message{From: new(raft.LocalAppendThread), Type: raftpb.MsgBeat.Enum()}); err != nil {
		panic(fmt.Sprintf("quorum: heartbeat on leading: %v", err))
	}
}

// markHeartbeat marks a heartbeat this leader sends with its term and the
// time; others are left alone.
func (q *Quorum) markHeartbeat(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgHeartbeat || len(m.GetContext()) > 0 {
		return
	}
	mark := make([]byte, heartbeatMarkLen)
	mark[0] = heartbeatMarkTag
	binary.BigEndian.PutUint64(mark[1:], m.GetTerm())
	binary.BigEndian.PutUint64(mark[9:], uint64(q.now.MonoMs))
	m.Context = mark
}

// heartbeatAnswered notes a voter's answer to a marked heartbeat: it heard
// from this leader no sooner than the mark's time. It returns the message
// raft is to step: the answer without its mark (raft would take it for a
// ReadIndex's), else m.
func (q *Quorum) heartbeatAnswered(m *raftpb.Message) *raftpb.Message {
	ctx := m.GetContext()
	if m.GetType() != raftpb.MsgHeartbeatResp || len(ctx) != heartbeatMarkLen || ctx[0] != heartbeatMarkTag {
		return m
	}
	term, sentMs := binary.BigEndian.Uint64(ctx[1:]), int64(binary.BigEndian.Uint64(ctx[9:]))
	if term > q.heardTerm {
		q.heardTerm, q.heardSince = term, map[int32]int64{}
	}
	if term == q.heardTerm {
		from := nodeID(m.GetFrom())
		q.heardSince[from] = max(q.heardSince[from], sentMs)
		if hold := q.LeadershipHoldsUntilMs(); hold < math.MaxInt64 {
			q.heldUntilMs = max(q.heldUntilMs, hold)
		}
	}
	unmarked := proto.Clone(m).(*raftpb.Message)
	unmarked.Context = nil
	return unmarked
}

// LeadershipHoldsUntilMs is the monotonic time until which no other node
// can become the quorum's leader, as this node's leadership stands now:
// math.MaxInt64 for the only voter, 0 when this node does not lead (or is
// handing its leadership on, which lets the transferee campaign at once).
func (q *Quorum) LeadershipHoldsUntilMs() int64 {
	st := q.rn.BasicStatus()
	if st.RaftState != raft.StateLeader || st.LeadTransferee != raft.None {
		return 0
	}
	voters := q.membership.GetVoters()
	if len(voters) == 1 && voters[0] == q.self {
		return math.MaxInt64
	}
	if q.heardTerm != st.GetTerm() {
		return 0
	}
	// The times the other voters heard from this leader, newest first;
	// this node counts as one of the majority at any time.
	var heard []int64
	for _, v := range voters {
		if v == q.self {
			continue
		}
		if at, ok := q.heardSince[nodeID(v)]; ok {
			heard = append(heard, at)
		}
	}
	need := len(voters)/2 + 1
	if slices.Contains(voters, q.self) {
		need--
	}
	if len(heard) < need || need == 0 {
		return 0
	}
	slices.Sort(heard)
	slices.Reverse(heard)
	since := heard[need-1]
	window := (q.cfg.ElectionTimeoutMs/q.cfg.TickMs - 1) * q.cfg.TickMs
	return since + window - window*holdDriftPermille/1000
}

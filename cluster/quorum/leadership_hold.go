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
// quorum issues no ReadIndex, so Context is otherwise empty). The mark
// also says how many of the leader's leadership transfers are over, and
// the hold counts only answers to heartbeats that said all were: a voter
// that answered one drops a given-up transfer's vote request, which raft
// would let past its lease (transfer_mark.go).

// holdDriftPermille is how much shorter than the followers' election
// timeout the hold is, in thousandths, for clocks that run at different
// rates (as cluster.BrokerLeaseMs allows).
const holdDriftPermille = 100

// heartbeatMarkLen is the length of a heartbeat's mark: a tag byte, the
// term, the monotonic ms it was sent at, and how many of the leader's
// transfers are over (transfersOver).
const heartbeatMarkLen = 25

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
// would elect the transferee before it passed), or while it does not lead
// and knows the transfer over (transfer_mark.go); a (pre-)vote request
// that is no leadership transfer's, because this node's hold as a leader
// has not passed yet; or, for one of its term or a later one, because it
// took a leader's message less than an election timeout ago (lease.go); or,
// for one of a later term, because this node started less than an
// election timeout ago (see above). Dropping it is raft's own answer while
// it hears from a leader: no answer at all. One of an earlier term, or of
// its term while it follows a leader, raft refuses.
func (q *Quorum) ignoresVoteRequest(m *raftpb.Message) bool {
	if m.GetType() != raftpb.MsgVote && m.GetType() != raftpb.MsgPreVote {
		return false
	}
	if isTransferVote(m) {
		st := q.rn.BasicStatus()
		if st.RaftState == raft.StateLeader {
			return st.LeadTransferee != m.GetFrom()
		}
		return q.staleTransferVote(m)
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
	return q.fresh()
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

// markHeartbeat marks a heartbeat this leader sends with its term, the
// time and how many of its transfers are over, which it keeps as a
// follower would (transfer_mark.go); others are left alone.
func (q *Quorum) markHeartbeat(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgHeartbeat || len(m.GetContext()) > 0 {
		return
	}
	over := q.transfersOver()
	mark := make([]byte, heartbeatMarkLen)
	mark[0] = heartbeatMarkTag
	binary.BigEndian.PutUint64(mark[1:], m.GetTerm())
	binary.BigEndian.PutUint64(mark[9:], uint64(q.now.MonoMs))
	binary.BigEndian.PutUint64(mark[17:], over)
	m.Context = mark
	q.noteTransfersOver(m.GetTerm(), over)
}

// freshTag, after a heartbeat's mark in a voter's answer, says the voter
// started less than an election timeout ago (markAnswer).
const freshTag = 'f'

// heartbeatAnswerTags is what a voter says of itself after the mark it
// echoes: it started lately (freshTag), how far its graceful stop came
// (stopping.go).
type heartbeatAnswerTags struct {
	fresh bool
	stop  stopStage
}

// parseHeartbeatMark reads a heartbeat's mark (markHeartbeat), or its echo
// in an answer with the tags the voter added (markAnswer); a tag this node
// does not know is skipped. ok is false when ctx is none.
func parseHeartbeatMark(ctx []byte) (term uint64, sentMs int64, over uint64, tags heartbeatAnswerTags, ok bool) {
	if len(ctx) < heartbeatMarkLen || ctx[0] != heartbeatMarkTag {
		return 0, 0, 0, tags, false
	}
	for _, tag := range ctx[heartbeatMarkLen:] {
		if tag == freshTag {
			tags.fresh = true
		} else if stage, ok := stopStageOfTag(tag); ok {
			tags.stop = stage
		}
	}
	return binary.BigEndian.Uint64(ctx[1:]), int64(binary.BigEndian.Uint64(ctx[9:])), binary.BigEndian.Uint64(ctx[17:]), tags, true
}

// markAnswer tags m, this node's answer to a leader's marked heartbeat,
// with what the leader handing its leadership on needs to know: that this
// node started less than an election timeout ago (it drops a transfer's
// MsgTimeoutNow: transfer_mark.go), and how far its graceful stop came
// (stopping.go), so that the leader picks another voter if it can.
func (q *Quorum) markAnswer(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgHeartbeatResp || len(m.GetContext()) != heartbeatMarkLen {
		return
	}
	fresh, stop := q.fresh(), q.stop.tag()
	if !fresh && stop == 0 {
		return
	}
	ctx := slices.Clone(m.GetContext())
	if fresh {
		ctx = append(ctx, freshTag)
	}
	if stop != 0 {
		ctx = append(ctx, stop)
	}
	m.Context = ctx
}

// takeTransfersOver keeps what m, a leader's marked heartbeat of this
// node's term or a later one (one raft takes), says of its transfers.
func (q *Quorum) takeTransfersOver(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgHeartbeat || m.GetTerm() < q.rn.BasicStatus().GetTerm() {
		return
	}
	if term, _, over, _, ok := parseHeartbeatMark(m.GetContext()); ok && term == m.GetTerm() {
		q.noteTransfersOver(term, over)
	}
}

// heartbeatAnswered notes a voter's answer to a marked heartbeat: it heard
// from this leader no sooner than the mark's time, and knew the transfers
// the mark said were over. Only the answers to the heartbeats that said
// the most transfers were over count (LeadershipHoldsUntilMs counts them
// once that is all of them). It returns the message raft is to step: the
// answer without its mark (raft would take it for a ReadIndex's), else m.
func (q *Quorum) heartbeatAnswered(m *raftpb.Message) *raftpb.Message {
	if m.GetType() != raftpb.MsgHeartbeatResp {
		return m
	}
	term, sentMs, over, tags, ok := parseHeartbeatMark(m.GetContext())
	if !ok {
		return m
	}
	if tags.fresh {
		q.freshVoters[nodeID(m.GetFrom())] = true
	} else {
		delete(q.freshVoters, nodeID(m.GetFrom()))
	}
	q.noteStopStage(nodeID(m.GetFrom()), tags, sentMs)
	if term > q.heardTerm || term == q.heardTerm && over > q.heardOver {
		q.heardTerm, q.heardOver, q.heardSince = term, over, map[int32]int64{}
	}
	if term == q.heardTerm && over == q.heardOver {
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
	if q.heardTerm != st.GetTerm() || q.heardOver != q.transfers {
		// No answer yet to a heartbeat of this term that said every
		// transfer this node started is over (transfer_mark.go).
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

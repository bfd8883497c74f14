package quorum

import (
	"bytes"
	"encoding/binary"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A leadership transfer that raft gave up leaves its MsgTimeoutNow behind.
// Raft gives a transfer up when its transferee has not taken over within
// an election timeout, and the leader then holds again: no other node can
// lead before its hold ends (leadership_hold.go). But the MsgTimeoutNow may
// still be on its way (held in the network, or waiting for a paused
// transferee), and a transferee that takes it campaigns at once, with vote
// requests raft lets past every voter's lease (raft's campaignTransfer:
// "we know we are not recovering from a partition"). Then the voters the
// hold counts on elect it before the hold ends (S9). The leader drops
// such a request unless it transfers to its sender now
// (ignoresVoteRequest); raft alone gives a follower no way to tell a stale
// transfer from a live one, nor the transferee a stale MsgTimeoutNow.
//
// So a leader counts the transfers it starts (Quorum.transfers) and tells
// its followers which of them are over:
//
//   - its MsgTimeoutNow carries its term and the transfer's number
//     (transferMark), and a transferee campaigning on it carries the same
//     mark in its vote requests, after raft's own Context;
//   - its heartbeats carry, beside their term and time, how many of its
//     transfers are over: all it started, or all but the one under way
//     (transfersOver); a follower keeps the newest of these it took
//     (overTerm, over), and the leader its own, from the heartbeats it
//     sends;
//   - a node that does not lead drops a MsgTimeoutNow or a transfer's vote
//     request whose transfer it knows is over (its mark's term is older
//     than the newest a heartbeat told it of, or the same with that
//     transfer among those over), or that carries no mark; a leader drops
//     every transfer's vote request but that of the transfer it makes now
//     (ignoresVoteRequest);
//   - the hold counts only the answers to heartbeats that said every
//     transfer this leader started is over (heartbeatAnswered): each voter
//     that answered one drops the given-up transfer's MsgTimeoutNow and
//     vote requests from then on, so the majority the hold counts on elects
//     no such transferee (nor is one, campaigning).
//
// A node that restarts forgets which transfers are over. For an election
// timeout after it starts (no longer than the hold its last answer before
// the restart counted for) it drops every MsgTimeoutNow and transfer's vote
// request, as it drops other vote requests (ignoresVoteRequest): a
// transfer to or through a voter that restarted that recently fails, and
// the leader leads on. A live transfer is unaffected: the leader holds
// nothing while it transfers, and its followers have been told of no
// transfer that is over but earlier ones.
//
// Raft's rules are kept (a transfer's vote still passes the lease), and
// the leader does not step down when raft gives a transfer up, which would
// leave the quorum without a leader for an election timeout after every
// failed transfer.

// transferMarkTag starts the mark of a MsgTimeoutNow and of the vote
// requests of the campaign it starts.
const transferMarkTag = 't'

// transferMarkLen is the length of that mark: the tag, the leader's term
// and the transfer's number.
const transferMarkLen = 17

// transferMark is the mark of transfer number seq of the leader of term.
func transferMark(term, seq uint64) []byte {
	mark := make([]byte, transferMarkLen)
	mark[0] = transferMarkTag
	binary.BigEndian.PutUint64(mark[1:], term)
	binary.BigEndian.PutUint64(mark[9:], seq)
	return mark
}

// parseTransferMark reads a transfer's mark: the leader's term and the
// transfer's number; ok is false when mark is none.
func parseTransferMark(mark []byte) (term, seq uint64, ok bool) {
	if len(mark) != transferMarkLen || mark[0] != transferMarkTag {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(mark[1:]), binary.BigEndian.Uint64(mark[9:]), true
}

// transferCampaign is the campaign this node makes as a transferee: its
// term, and the mark of the MsgTimeoutNow that started it.
type transferCampaign struct {
	term uint64
	mark []byte
}

// transfersOver is how many of the transfers this node started are over:
// all of them, or all but the one under way while it leads.
func (q *Quorum) transfersOver() uint64 {
	st := q.rn.BasicStatus()
	if st.RaftState == raft.StateLeader && st.LeadTransferee != raft.None {
		return q.transfers - 1
	}
	return q.transfers
}

// noteTransfersOver keeps that the leader of term said the first over of
// its transfers are over, if that is newer than what this node knew.
func (q *Quorum) noteTransfersOver(term, over uint64) {
	if term > q.overTerm || term == q.overTerm && over > q.over {
		q.overTerm, q.over = term, over
	}
}

// transferOver says whether the transfer of mark is over, as far as this
// node knows, or cannot be told (no mark, or this node started less than
// an election timeout ago and forgot what it was told).
func (q *Quorum) transferOver(mark []byte) bool {
	term, seq, ok := parseTransferMark(mark)
	if !ok || q.fresh() {
		return true
	}
	return term < q.overTerm || term == q.overTerm && seq <= q.over
}

// fresh says whether this node started less than an election timeout ago.
func (q *Quorum) fresh() bool {
	return !q.started || q.ticks < int64(q.cfg.electionTicks())
}

// isTransferVote says whether m is a (pre-)vote request of a leadership
// transfer: raft's Context, marked or not.
func isTransferVote(m *raftpb.Message) bool {
	return (m.GetType() == raftpb.MsgVote || m.GetType() == raftpb.MsgPreVote) &&
		bytes.HasPrefix(m.GetContext(), []byte(campaignTransfer))
}

// markTimeoutNow marks a MsgTimeoutNow this leader sends with its term and
// the number of its latest transfer.
func (q *Quorum) markTimeoutNow(m *raftpb.Message) {
	if m.GetType() == raftpb.MsgTimeoutNow {
		m.Context = transferMark(m.GetTerm(), q.transfers)
	}
}

// markTransferVote appends, to a vote request of this node's campaign as a
// transferee, the mark of the MsgTimeoutNow that started it.
func (q *Quorum) markTransferVote(m *raftpb.Message) {
	if string(m.GetContext()) == campaignTransfer && q.campaign.term == m.GetTerm() && q.campaign.mark != nil {
		m.Context = append([]byte(campaignTransfer), q.campaign.mark...)
	}
}

// staleTimeoutNow says whether to drop m, a MsgTimeoutNow whose transfer
// is over (transferOver).
func (q *Quorum) staleTimeoutNow(m *raftpb.Message) bool {
	return m.GetType() == raftpb.MsgTimeoutNow && q.transferOver(m.GetContext())
}

// staleTransferVote says whether to drop m, a transfer's vote request
// reaching a node that does not lead, because its transfer is over
// (transferOver).
func (q *Quorum) staleTransferVote(m *raftpb.Message) bool {
	return q.transferOver(m.GetContext()[len(campaignTransfer):])
}

// unmarkTransferVote is m as raft is to step it: a transfer's vote request
// with raft's own Context, without the mark.
func unmarkTransferVote(m *raftpb.Message) *raftpb.Message {
	if !isTransferVote(m) || len(m.GetContext()) == len(campaignTransfer) {
		return m
	}
	unmarked := proto.Clone(m).(*raftpb.Message)
	unmarked.Context = []byte(campaignTransfer)
	return unmarked
}

// startedCampaign notes, after this node stepped m, a MsgTimeoutNow, the
// campaign it started (from term before), whose vote requests carry m's
// mark.
func (q *Quorum) startedCampaign(m *raftpb.Message, before uint64) {
	if m.GetType() != raftpb.MsgTimeoutNow {
		return
	}
	if st := q.rn.BasicStatus(); st.RaftState == raft.StateCandidate && st.GetTerm() > before {
		q.campaign = transferCampaign{term: st.GetTerm(), mark: m.GetContext()}
	}
}

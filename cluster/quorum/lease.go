package quorum

import (
	"go.etcd.io/raft/v3/raftpb"
)

// The leader's hold (leadership_hold.go) counts on each voter that answered
// its heartbeat granting no vote for an election timeout after. Raft's
// check-quorum lease keeps that only while the voter still follows a
// leader: any message of a later term (a candidate's answer to a heartbeat
// or append this node sent as a stale leader, a pre-vote's refusal) makes
// raft a follower of that term with no leader, and it grants that term's
// vote at once. The simulator's seed 21131 (5 nodes): n2, paused 5 s as the
// leader of term 5, resumed, answered leader n1's heartbeats of term 6,
// took n3's answer of term 7 to one of its own stale heartbeats and voted
// for n3 at once, electing it 0.7 s inside n1's hold.
//
// So the core keeps the lease itself: a voter that takes a heartbeat,
// append or snapshot of its term or a later one (those raft takes from
// their leader, resetting its election clock, and answers) ignores every
// (pre-)vote request but a leadership transfer's for an election timeout
// after (leaseFrom), whatever its term or role becomes meanwhile. It
// is raft's own rule (no vote while electionElapsed < electionTimeout),
// only not forgotten when raft forgets its leader, nor cut short when a
// paused process steps its backlog before its overdue ticks.
//
// The same seed elected n3 with n2's pre-vote, granted while n2 had heard
// from no leader for 5 s, to a pre-vote n3 had asked for in term 5 and
// counted when it asked again in term 6: raft matches a granted pre-vote
// to a candidacy by term only, and a grant carries the term asked for,
// which is the term the pre-candidate is in now when it asked one term
// earlier. A grant whose term is not ahead of this node's answers an
// earlier candidacy, and the core drops it (staleGrant).

// takeLease starts this node's lease anew when m, arrived at nowMs, is a
// heartbeat, append or snapshot of its term or a later one. Before the
// first Tick (no ticks to count from yet) it holds until that Tick.
func (q *Quorum) takeLease(m *raftpb.Message, nowMs int64) {
	switch m.GetType() {
	case raftpb.MsgHeartbeat, raftpb.MsgApp, raftpb.MsgSnap:
		if m.GetTerm() < q.rn.BasicStatus().GetTerm() {
			return
		}
		if !q.started {
			q.leasePending = true
			return
		}
		q.leaseFrom(max(nowMs, q.now.MonoMs))
	}
}

// leaseFrom ends the lease of a message that arrived at nowMs no sooner
// than an election timeout less one tick after: at the tick ElectionTick-1
// ticks after the first tick at or after nowMs. That is raft's own count
// (ElectionTick ticks from the message) when its Ticks come on time; and
// no shorter when they come late, as when a paused process steps its
// backlog before its overdue ticks (raft's count then lapses at once). A
// voter that answered a heartbeat sent at t so grants no vote before t plus
// an election timeout less one tick, as the hold counts on.
func (q *Quorum) leaseFrom(nowMs int64) {
	first := (nowMs - q.originMs + q.cfg.TickMs - 1) / q.cfg.TickMs
	q.leaseEndTick = max(q.leaseEndTick, first+int64(q.cfg.electionTicks())-1)
}

// inLease says whether this node took a leader's message less than an
// election timeout ago (takeLease).
func (q *Quorum) inLease() bool { return q.leasePending || q.ticks < q.leaseEndTick }

// staleGrant says whether m is a granted pre-vote that answers an earlier
// candidacy of this node: its term is not ahead of this node's.
func (q *Quorum) staleGrant(m *raftpb.Message) bool {
	return m.GetType() == raftpb.MsgPreVoteResp && !m.GetReject() && m.GetTerm() <= q.rn.BasicStatus().GetTerm()
}

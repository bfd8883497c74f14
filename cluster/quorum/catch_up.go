package quorum

import (
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// A voter that starts with an empty log bootstraps at index 1 (New), as
// every voter of a new quorum does. It may also be a voter of a formed
// quorum whose log was lost with its whole directory (its disk replaced,
// the directory wiped, meta.properties gone too): it then forgot the
// entries it acknowledged, which counted towards commits, and the vote it
// may have cast in the current term. Granting votes by its empty log, it
// could elect a leader missing committed metadata (an entry committed on
// it and a voter now down), or a second leader of a term; campaigning, it
// could be elected with the vote of a voter that lacks such an entry. The
// leader that knew it hands its leadership on when told (lost_log.go); one
// elected since knows nothing of it.
//
// So a voter that started over from an empty log catches up before it
// takes part in elections of the formed quorum again (catching up; the
// shell keeps it across restarts with Config.CatchingUp until Ready says
// CaughtUp):
//
//   - it grants no vote or pre-vote to a candidate whose log holds more
//     than a bootstrap (last index above 1) unless that candidate is
//     catching up too (its request marked so, catchUpMark);
//   - its own (pre-)vote requests, once its log holds more than its
//     bootstrap, go marked, and a voter that is not catching up drops a
//     marked request: such a candidate is elected only by voters that all
//     started over, which is a majority only in a new quorum (or where a
//     majority of voters lost their logs, whose entries no rule brings
//     back);
//   - it has caught up once it applied an entry (or a snapshot ending in
//     one) of the term of a leader it follows, or leads: that leader
//     committed it, and had been elected without this node's vote, by
//     voters holding every committed entry (raft's leader completeness;
//     losing this node's log is losing one voter, which a quorum
//     tolerates), or by voters that all started over; so every entry
//     committed before the loss is in this node's log again; it follows
//     that leader in that term, and grants no vote in it.
//
// A new quorum is no different: its voters, all at the bootstrap, elect
// among themselves (a candidate at index 1), and each catches up with the
// first entry of its leader's term. If that leader loses its leadership
// before the entry is committed, every voter holds more than the bootstrap
// and is still catching up: they elect among themselves by marked
// requests, where unmarked ones would leave the quorum without a leader
// for good. A formed quorum's voters all hold more than the bootstrap and
// are not catching up, so a voter that lost its log elects no one of them
// nor is elected with their votes before it caught up. The price: a voter
// that never ran before (a quorum started with one voter missing) does not
// vote either until a leader reaches it, so with another voter down the
// quorum waits for that one; the same as a voter that lost its log, which
// it cannot be told apart from.

// catchUpMark marks, in a (pre-)vote request's Context, a candidate that is
// catching up with more than its bootstrap in its log.
const catchUpMark = "CatchingUp"

// catchUpIgnores says whether this node drops m, a (pre-)vote request (a
// leadership transfer's too) of a candidate whose log holds more than a
// bootstrap: this voter, catching up, drops an unmarked one; a voter that
// is not catching up drops a marked one.
func (q *Quorum) catchUpIgnores(m *raftpb.Message) bool {
	if m.GetType() != raftpb.MsgVote && m.GetType() != raftpb.MsgPreVote || m.GetIndex() <= 1 {
		return false
	}
	return q.catchingUp != (string(m.GetContext()) == catchUpMark)
}

// catchUpHolds says whether this voter, catching up with more than its
// bootstrap in its log, holds back m, a (pre-)vote request of its own: it
// holds a leadership transfer's (raft's own Context, which would hide the
// mark) and marks the others (catchUpMark) before they go.
func (q *Quorum) catchUpHolds(m *raftpb.Message) bool {
	if !q.catchingUp || m.GetType() != raftpb.MsgVote && m.GetType() != raftpb.MsgPreVote || q.lastIndex() <= 1 {
		return false
	}
	if len(m.GetContext()) > 0 {
		return true
	}
	m.Context = []byte(catchUpMark)
	return false
}

// caughtUp ends the catch-up once this node applied an entry (or a
// snapshot ending in one) of term, the term of the leader it follows or is.
func (q *Quorum) caughtUp(out *Ready, term uint64) {
	if !q.catchingUp {
		return
	}
	st := q.rn.BasicStatus()
	if st.Lead == raft.None || term != st.GetTerm() {
		return
	}
	q.catchingUp = false
	out.CaughtUp = true
}

// CatchingUp says whether this voter started over from an empty log and
// has not caught up yet (see catch_up.go): the shell keeps that durable
// (Config.CatchingUp) until a Ready says CaughtUp.
func (q *Quorum) CatchingUp() bool { return q.catchingUp }

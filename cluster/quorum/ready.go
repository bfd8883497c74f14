package quorum

import (
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"gregor/cluster"
	"gregor/logstore/raftlog"
)

// Ready is what the core asks of its caller. Carry it out in this order:
//
//  1. SendFirst: send each to its node (as Messages below).
//  2. Persist: raftlog.Log.Save(rd.Persist). It must be durable (when
//     MustSync) before any of Messages leaves; if it fails, stop the node.
//  3. Messages: send each to its node. After sending one that carries a
//     snapshot, call ReportSnapshot; when a node cannot be reached,
//     ReportUnreachable.
//  3. Snapshot, then Committed: apply them to the metadata image in order
//     (a snapshot replaces the image).
//  4. Membership, Proposals, Leadership: tell whoever waits (the controller
//     answers its requests, starts or stops).
//  5. Advance.
//
// Then, when SnapshotDue, take a snapshot of the image at AppliedOffset
// (Snapshot) and compact the durable log with it (raftlog.Log.Compact).
type Ready struct {
	// Persist is the snapshot, entries and hard state to make durable.
	Persist raftlog.Update
	// SendFirst are raft's requests to other nodes (appends, heartbeats,
	// pre-vote and vote requests, snapshots), in raft's order, which may
	// leave before Persist is durable; Messages are its answers (to
	// appends, votes and pre-votes), which may not: an answer promises what
	// Persist holds. Sending the requests first lets the voters write
	// while this node writes (a candidate's vote request, a new leader's
	// first entry, each proposal): an election took four disk syncs one
	// after another, each up to 0.7 s on a busy disk. Raft counts this
	// node's own vote and appends only once Advance says Persist is
	// durable (its rule for asynchronous storage writes, which hands out
	// the same requests before the write; the Raft thesis, 10.2.1).
	SendFirst []Envelope
	Messages  []Envelope
	// Snapshot, when set, replaces the image: the quorum (re)started from
	// it, or this node was too far behind the leader for entries.
	Snapshot *SnapshotToApply
	// Committed are the metadata batches committed since the last Ready,
	// in offset order, each to apply exactly once.
	Committed []CommittedBatch
	// Membership, when set, is the quorum's new membership, after the
	// Committed batches.
	Membership *Membership
	// Proposals are the fates of this node's proposals learned since the
	// last Ready.
	Proposals []ProposalOutcome
	// Leadership, when set, is the quorum's new leadership as this node
	// sees it, after every batch above was applied.
	Leadership *Leadership
	// CaughtUp says this voter, which started over from an empty log, has
	// caught up and takes part in elections again (catch_up.go): the
	// caller makes Config.CatchingUp false for its next start.
	CaughtUp bool
	// SnapshotDue says enough was applied since the last snapshot (or the
	// membership grew, and the new member needs a snapshot naming it).
	SnapshotDue bool
}

// Envelope is a raft message and the node it goes to.
type Envelope struct {
	To      int32
	Message *raftpb.Message
}

// CarriesSnapshot says whether the message is a snapshot, whose delivery
// the sender must report with ReportSnapshot.
func (e Envelope) CarriesSnapshot() bool { return e.Message.GetType() == raftpb.MsgSnap }

// SnapshotToApply is an image to load: the snapshot batch and the offset
// it was taken at.
type SnapshotToApply struct {
	// Offset is the metadata offset (raft index) of the last entry the
	// snapshot covers.
	Offset int64
	// Term is the raft term of that entry.
	Term uint64
	// Batch holds the records that rebuild the image (Snapshot is true).
	Batch cluster.MetadataBatch
}

// CommittedBatch is a committed metadata batch.
type CommittedBatch struct {
	// Offset is the metadata offset: the raft index of the entry. Offsets
	// increase; they skip the entries that carry no batch (elections,
	// membership changes).
	Offset int64
	// Term is the raft term (Kafka's quorum leader epoch) the entry was
	// proposed in.
	Term  uint64
	Batch cluster.MetadataBatch
}

// Membership is the quorum's membership.
type Membership struct {
	// Voters and Learners are node ids, sorted.
	Voters, Learners []int32
}

// Leadership is who leads the quorum, as this node knows it.
type Leadership struct {
	// LeaderID is the leading node, -1 when unknown (an election is on).
	LeaderID int32
	// LeaderEpoch is the raft term (Kafka's quorum leader epoch).
	LeaderEpoch uint64
	// Active says this node leads and has applied every entry before its
	// term: the controller may start, from the image as applied so far.
	// When it turns false, the controller stops and answers NOT_CONTROLLER.
	Active bool
	// Predecessor is, while Active, the last leader this node followed,
	// when no leader between it and this node was active (-1 otherwise,
	// or when this node never heard from that leader): it led the term
	// just before this node's, or the log this node was elected with
	// ends in its term;
	// PredecessorSinceMs is when this node first heard from it in that
	// term (monotonic ms). The controller fences the predecessor's broker
	// sooner (cluster.Controller.Predecessor).
	Predecessor        int32
	PredecessorSinceMs int64
	// Resigned says the leader of LeaderEpoch resigned when it stopped
	// gracefully, handing its leadership to no one because every other
	// voter was stopping too (stopping.go): no node leads in this epoch
	// (LeaderID is -1), and none will before an election among voters
	// that are all stopping. ResignedOffset is the last offset it had
	// committed: an image that applied it holds every record committed.
	Resigned       bool
	ResignedOffset int64
}

// followedLeader is the last leader this node heard from while following,
// of which term, and since when (monotonic ms).
type followedLeader struct {
	leader  int32
	term    uint64
	sinceMs int64
}

// HasReady says whether Ready has anything to hand out. It is false while
// a Ready is not advanced.
func (q *Quorum) HasReady() bool {
	if q.outstanding != nil {
		return false
	}
	return q.bootstrap != nil || q.recovered != nil || len(q.lostOutcomes) > 0 || len(q.lostLogNotices) > 0 || q.rn.HasReady() ||
		len(q.resignNotices) > 0 || q.resignedUnreported || q.stopNoticeDue()
}

// Ready hands out what the core needs done (see Ready for the order). The
// caller must call Advance before the next Ready.
func (q *Quorum) Ready() Ready {
	if q.outstanding != nil {
		panic("quorum: Ready called before the last one was advanced")
	}
	q.beatOnLeading()
	rd := q.rn.Ready()
	q.outstanding = &rd
	out := Ready{
		Persist:   raftlog.Update{Entries: rd.Entries, MustSync: rd.MustSync},
		Proposals: q.lostOutcomes,
	}
	q.lostOutcomes = nil
	if !raft.IsEmptyHardState(rd.HardState) {
		out.Persist.HardState = rd.HardState
	}
	switch {
	case !raft.IsEmptySnap(rd.Snapshot):
		// A snapshot from the leader supersedes the bootstrap one.
		out.Persist.Snapshot = rd.Snapshot
	case q.bootstrap != nil:
		out.Persist.Snapshot, out.Persist.MustSync = q.bootstrap, true
	}
	for _, m := range rd.Messages {
		if q.catchUpHolds(m) {
			continue
		}
		q.markHeartbeat(m)
		q.markTimeoutNow(m)
		q.markTransferVote(m)
		q.markAnswer(m)
		env := Envelope{To: nodeID(m.GetTo()), Message: m}
		if answersOnPersist(m) {
			out.Messages = append(out.Messages, env)
		} else {
			out.SendFirst = append(out.SendFirst, env)
		}
	}
	out.Proposals = append(out.Proposals, q.proposals.index(rd.Entries)...)
	for _, m := range q.lostLogNotices {
		out.SendFirst = append(out.SendFirst, Envelope{To: nodeID(m.GetTo()), Message: m})
	}
	q.lostLogNotices = nil
	for _, m := range q.resignNotices {
		out.SendFirst = append(out.SendFirst, Envelope{To: nodeID(m.GetTo()), Message: m})
	}
	q.resignNotices = nil
	if q.stopNoticeDue() {
		m := q.stopNotice()
		out.SendFirst = append(out.SendFirst, Envelope{To: nodeID(m.GetTo()), Message: m})
	}
	q.applySnapshot(&out, rd.Snapshot)
	st := q.rn.BasicStatus()
	// ownTerm is the term of this node's leadership, 0 when it follows.
	ownTerm := uint64(0)
	if st.RaftState == raft.StateLeader {
		ownTerm = st.GetTerm()
	}
	for _, e := range rd.CommittedEntries {
		q.applyEntry(&out, e, ownTerm)
	}
	q.updateLeadership(&out)
	out.Proposals = q.ownOutcomes(out.Proposals)
	q.trackProgress()
	out.SnapshotDue = q.appliedIndex > q.snapshotIndex && (q.snapshotWanted ||
		q.bytesSinceSnapshot >= q.cfg.SnapshotIntervalBytes ||
		(q.cfg.SnapshotIntervalEntries > 0 && q.entriesSinceSnapshot >= q.cfg.SnapshotIntervalEntries))
	return out
}

// answersOnPersist says whether m is an answer raft sends only once what
// it answers on is durable (raft's msgsAfterAppend): its answers to
// appends, votes and pre-votes. Raft hands out every other message before
// the write when it writes asynchronously, and sorts by these same types.
func answersOnPersist(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MsgAppResp, raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		return true
	}
	return false
}

// applySnapshot hands out the snapshot the core started from, or one raft
// installed from the leader.
func (q *Quorum) applySnapshot(out *Ready, installed *raftpb.Snapshot) {
	snap := q.recovered
	if !raft.IsEmptySnap(installed) {
		snap = installed
		q.membership = cloneConfState(snap.GetMetadata().GetConfState())
		q.appliedIndex = snap.GetMetadata().GetIndex()
		q.snapshotIndex = q.appliedIndex
		q.bytesSinceSnapshot, q.entriesSinceSnapshot, q.snapshotWanted = 0, 0, false
		out.Membership = q.membershipOut()
	}
	if snap == nil {
		return
	}
	b, err := decodeSnapshotData(snap.GetData())
	if err != nil {
		panic(fmt.Sprintf("quorum: snapshot %d does not decode: %v", snap.GetMetadata().GetIndex(), err))
	}
	md := snap.GetMetadata()
	out.Snapshot = &SnapshotToApply{Offset: int64(md.GetIndex()), Term: md.GetTerm(), Batch: b}
	if snap == installed {
		q.caughtUp(out, md.GetTerm())
	}
}

// applyEntry hands out one committed entry: a metadata batch, a membership
// change (which raft applies now), or the empty entry of an election. An
// entry of ownTerm, the term this node leads in, makes it active.
func (q *Quorum) applyEntry(out *Ready, e *raftpb.Entry, ownTerm uint64) {
	if e.GetIndex() != q.appliedIndex+1 {
		panic(fmt.Sprintf("quorum: committed entry %d after entry %d", e.GetIndex(), q.appliedIndex))
	}
	q.appliedIndex = e.GetIndex()
	q.entriesSinceSnapshot++
	q.bytesSinceSnapshot += uint64(len(e.GetData()))
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) > 0 {
			b, n, err := cluster.DecodeMetadataBatch(e.GetData())
			if err == nil && n != len(e.GetData()) {
				err = fmt.Errorf("%d bytes after the batch", len(e.GetData())-n)
			}
			if err != nil {
				panic(fmt.Sprintf("quorum: committed entry %d does not decode: %v", e.GetIndex(), err))
			}
			out.Committed = append(out.Committed, CommittedBatch{Offset: int64(e.GetIndex()), Term: e.GetTerm(), Batch: b})
		}
	case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		q.applyMembershipChange(out, e)
	}
	out.Proposals = append(out.Proposals, q.proposals.committed(e)...)
	q.caughtUp(out, e.GetTerm())
	if ownTerm != 0 && e.GetTerm() == ownTerm {
		if q.activeTerm != ownTerm {
			// The first entry of this node's term: the one before it
			// ended the log this node was elected with.
			q.electedLogTerm = 0
			if t, err := q.storage.Term(e.GetIndex() - 1); err == nil {
				q.electedLogTerm = t
			}
		}
		q.activeTerm = ownTerm
	}
}

func (q *Quorum) applyMembershipChange(out *Ready, e *raftpb.Entry) {
	var cc raftpb.ConfChangeI
	if e.GetType() == raftpb.EntryConfChange {
		v1 := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), v1); err != nil {
			panic(fmt.Sprintf("quorum: membership change %d does not decode: %v", e.GetIndex(), err))
		}
		cc = v1
	} else {
		v2 := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), v2); err != nil {
			panic(fmt.Sprintf("quorum: membership change %d does not decode: %v", e.GetIndex(), err))
		}
		cc = v2
	}
	grew := len(q.membership.GetVoters()) + len(q.membership.GetLearners())
	q.membership = cloneConfState(q.rn.ApplyConfChange(cc))
	if len(q.membership.GetVoters())+len(q.membership.GetLearners()) > grew {
		// The leader sends a new member the latest snapshot, which raft
		// makes it refuse unless it names the member: take one now.
		q.snapshotWanted = true
	}
	out.Membership = q.membershipOut()
}

func (q *Quorum) membershipOut() *Membership {
	return &Membership{Voters: nodeIDs(q.membership.GetVoters()), Learners: nodeIDs(q.membership.GetLearners())}
}

// updateLeadership reports a change of leader, term or activity, and ends
// the pending proposals of a leadership that is over.
func (q *Quorum) updateLeadership(out *Ready) {
	st := q.rn.BasicStatus()
	leads := st.RaftState == raft.StateLeader
	if lead := nodeID(st.Lead); !leads && st.Lead != raft.None && (lead != q.followed.leader || st.GetTerm() != q.followed.term) {
		q.followed = followedLeader{leader: lead, term: st.GetTerm(), sinceMs: q.now.MonoMs}
	}
	now := Leadership{LeaderID: nodeID(st.Lead), LeaderEpoch: st.GetTerm(), Active: leads && q.activeTerm == st.GetTerm(), Predecessor: -1}
	if r, ok := q.resignedNow(); ok {
		now.LeaderID, now.Resigned, now.ResignedOffset = -1, true, int64(r.offset)
	}
	q.resignedUnreported = false
	if now.Active && q.followed.leader >= 0 && (q.followed.term+1 == st.GetTerm() || q.followed.term == q.electedLogTerm) {
		// Raft elects one leader a term: none led between them. Or
		// elections failed between them (a split vote), and the log this
		// node was elected with ends in the term it followed: a leader
		// of a term between them that became active committed an entry
		// of its term, which a voter that elected this node holds, so
		// this node's log would end in that term or a later one.
		now.Predecessor, now.PredecessorSinceMs = q.followed.leader, q.followed.sinceMs
	}
	if q.proposals.pending() > 0 && (!leads || st.GetTerm() != q.proposals.term) {
		out.Proposals = append(out.Proposals, q.proposals.dropAll(ProposalLeadershipLost)...)
	}
	if now != q.leadership {
		q.leadership = now
		out.Leadership = &now
	}
}

// trackProgress notes, on the leader, when each member was last caught up
// with the commit index: now for the leader itself; for another member,
// the last time it was heard from, when what it then acknowledged still
// covers the commit index (a member's match index moves only when it
// answers, so it held every committed entry at that answer). A member that
// stopped answering keeps the time of its last answer instead of now.
func (q *Quorum) trackProgress() {
	if !q.leadership.Active {
		return
	}
	commit := q.rn.BasicStatus().GetCommit()
	q.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if pr.Match < commit {
			return
		}
		node := nodeID(id)
		at := q.now
		if id != q.self {
			heard, ok := q.lastContact[node]
			if !ok {
				return
			}
			at = heard
		}
		if prev, ok := q.lastCaughtUp[node]; !ok || prev.WallMs < at.WallMs {
			q.lastCaughtUp[node] = at
		}
	})
}

// Advance says the last Ready was carried out.
func (q *Quorum) Advance() {
	rd := q.outstanding
	if rd == nil {
		panic("quorum: Advance without a Ready")
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := q.storage.ApplySnapshot(rd.Snapshot); err != nil {
			panic(fmt.Sprintf("quorum: install snapshot %d in memory: %v", rd.Snapshot.GetMetadata().GetIndex(), err))
		}
	}
	if err := q.storage.Append(rd.Entries); err != nil {
		panic(fmt.Sprintf("quorum: append entries in memory: %v", err))
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		_ = q.storage.SetHardState(rd.HardState)
	}
	q.rn.Advance(*rd)
	q.outstanding, q.bootstrap, q.recovered = nil, nil, nil
	q.advancedIndex = q.appliedIndex
	q.driveRelearn()
}

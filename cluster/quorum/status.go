package quorum

import (
	"slices"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/tracker"
	"go.uber.org/zap"
)

// Role is what a node is in the quorum right now, in Kafka's words for the
// current-state of a KRaft node.
type Role string

// The roles.
const (
	RoleLeader    Role = "leader"
	RoleCandidate Role = "candidate"
	RoleFollower  Role = "follower"
	// RoleObserver is a node that does not vote: a learner, or a node not
	// (yet) in the membership.
	RoleObserver Role = "observer"
)

// Status is the quorum as this node sees it, for DescribeQuorum and
// metrics. Offsets are metadata offsets (raft indexes): an entry's offset
// is its index, so an end offset is the last index plus one.
type Status struct {
	NodeID      int32
	Role        Role
	LeaderID    int32
	LeaderEpoch uint64
	// HighWatermark is the commit index plus one: every offset below it is
	// committed.
	HighWatermark int64
	// AppliedOffset is the last offset handed out to apply.
	AppliedOffset int64
	// Voters and Observers (learners) are the members, by node id; what
	// the leader knows of each (others know only themselves).
	Voters, Observers []ReplicaStatus
}

// ReplicaStatus is one member as DescribeQuorum describes it.
type ReplicaStatus struct {
	NodeID int32
	// LogEndOffset is the end of the member's log as the leader knows it
	// (its match index plus one); -1 when unknown.
	LogEndOffset int64
	// LastFetchTimestamp is the wall time (Unix ms) this node last heard
	// from the member; -1 when never.
	LastFetchTimestamp int64
	// LastCaughtUpTimestamp is the wall time the member last held every
	// committed entry, as the leader saw it; -1 when unknown.
	LastCaughtUpTimestamp int64
}

// Status describes the quorum. It allocates; call it on demand.
func (q *Quorum) Status() Status {
	st := q.rn.BasicStatus()
	s := Status{
		NodeID:        q.cfg.NodeID,
		LeaderID:      nodeID(st.Lead),
		LeaderEpoch:   st.GetTerm(),
		HighWatermark: int64(st.GetCommit()) + 1,
		AppliedOffset: int64(q.appliedIndex),
	}
	switch {
	case !slices.Contains(q.membership.GetVoters(), q.self):
		s.Role = RoleObserver
	case st.RaftState == raft.StateLeader:
		s.Role = RoleLeader
	case st.RaftState == raft.StateCandidate || st.RaftState == raft.StatePreCandidate:
		s.Role = RoleCandidate
	default:
		s.Role = RoleFollower
	}
	match := map[int32]uint64{}
	if st.RaftState == raft.StateLeader {
		// A Match of 0 is raft's "not heard from in this term" (a log's
		// first index is 1): its log end offset stays unknown.
		q.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
			if pr.Match > 0 {
				match[nodeID(id)] = pr.Match
			}
		})
	} else if last, err := q.storage.LastIndex(); err == nil {
		match[q.cfg.NodeID] = last
	}
	describe := func(node int32) ReplicaStatus {
		r := ReplicaStatus{NodeID: node, LogEndOffset: -1, LastFetchTimestamp: -1, LastCaughtUpTimestamp: -1}
		if m, ok := match[node]; ok {
			r.LogEndOffset = int64(m) + 1
		}
		if at, ok := q.lastContact[node]; ok {
			r.LastFetchTimestamp = at.WallMs
		}
		if at, ok := q.lastCaughtUp[node]; ok {
			r.LastCaughtUpTimestamp = at.WallMs
		}
		if node == q.cfg.NodeID && q.started {
			r.LastFetchTimestamp = q.now.WallMs
		}
		return r
	}
	for _, node := range nodeIDs(q.membership.GetVoters()) {
		s.Voters = append(s.Voters, describe(node))
	}
	for _, node := range nodeIDs(q.membership.GetLearners()) {
		s.Observers = append(s.Observers, describe(node))
	}
	return s
}

// Membership is the quorum's membership as of the last entry handed out.
func (q *Quorum) Membership() Membership { return *q.membershipOut() }

// Leadership is the leadership as of the last Ready.
func (q *Quorum) Leadership() Leadership { return q.leadership }

func zapInt32s(key string, v []int32) zap.Field { return zap.Int32s(key, v) }

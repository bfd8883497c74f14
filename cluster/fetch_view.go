package cluster

import "slices"

// A partition's fetch view: what a Fetch needs to know of a partition to
// answer it without a read, published by the partition's shell after each
// step of its replica (Replica.FetchView). A Fetch whose offset is already at
// the end of what it may read, and which would change nothing in the
// leader's state, is answered from the view (ReadFromView) instead of a
// message to the partition; a parked Fetch waits for a view that would wake
// it (Wakes) instead of parking a watch in the replica. Anything the view
// cannot settle goes through the replica, as before.

// FetchView is an immutable snapshot of a replica as a Fetch sees it.
type FetchView struct {
	// Leading says the replica leads; the other fields but LeaderEpoch
	// mean nothing when it does not.
	Leading     bool
	LeaderEpoch int32
	// LogStartOffset, LogEndOffset, HighWatermark and LastStableOffset are
	// the replica's.
	LogStartOffset, LogEndOffset, HighWatermark, LastStableOffset int64
	// LatestEpoch is the latest epoch of the log's leader-epoch cache
	// (the leader's own, from when it began to lead, records or not), -1
	// for none; LatestEpochStart is where it starts, and PriorEpoch is the
	// epoch before it in the cache (-1 for none).
	LatestEpoch      int32
	LatestEpochStart int64
	PriorEpoch       int32
	// FollowerRefreshMs is how old the leader's record of a follower's
	// fetch may be for a fetch of that follower to be answered from the
	// view: past it, the fetch goes through the replica, which records it
	// anew (an eighth of replica.lag.time.max.ms). The record's time is
	// when the follower last counted as caught up: when the leader's log
	// grows, the follower has replica.lag.time.max.ms from then, less this
	// and a fetch's max wait, to fetch the new records before the ISR
	// drops it.
	FollowerRefreshMs int64
	// Followers are the leader's records of its followers, in replica
	// order.
	Followers []FollowerView
}

// FollowerView is a leader's record of one follower's last fetch.
type FollowerView struct {
	ReplicaID int32
	// InISR says the follower is in the ISR.
	InISR bool
	// LogEndOffset and LogStartOffset are what its last fetch said (its
	// fetch offset and log start offset), -1 before any.
	LogEndOffset, LogStartOffset int64
	// BrokerEpoch is its last fetch's broker epoch.
	BrokerEpoch int64
	// FetchedAtMs is when its last fetch the leader recorded came
	// (monotonic).
	FetchedAtMs int64
}

// FetchView fills v with the replica's fetch view, reusing v.Followers'
// array (the caller compares it with the view it published last, Equal,
// and publishes a copy only when it changed).
func (r *Replica) FetchView(v *FetchView) {
	followers := v.Followers[:0]
	*v = FetchView{Leading: r.leader != nil, LeaderEpoch: r.partition.LeaderEpoch}
	if r.leader != nil {
		v.LogStartOffset, v.LogEndOffset, v.HighWatermark, v.LastStableOffset = r.state.LogStartOffset, r.state.LogEndOffset, r.highWatermark, r.LastStableOffset()
		v.LatestEpoch, v.LatestEpochStart, v.PriorEpoch = latestEpoch(r.epochs), -1, -1
		if n := len(r.epochs); n > 0 {
			v.LatestEpochStart = r.epochs[n-1].StartOffset
			if n > 1 {
				v.PriorEpoch = r.epochs[n-2].Epoch
			}
		}
		v.FollowerRefreshMs = r.opts.ReplicaLagTimeMaxMs / 8
		for _, id := range r.partition.Replicas {
			f := r.leader.followers[id]
			if id == r.opts.NodeID || f == nil {
				continue
			}
			followers = append(followers, FollowerView{ReplicaID: id, InISR: slices.Contains(r.partition.ISR, id), LogEndOffset: f.logEndOffset,
				LogStartOffset: f.logStartOffset, BrokerEpoch: f.brokerEpoch, FetchedAtMs: f.lastFetchTimeMs})
		}
	}
	v.Followers = followers
}

// Equal says whether two views are the same.
func (v *FetchView) Equal(o *FetchView) bool {
	if v == nil || o == nil {
		return v == o
	}
	return v.Leading == o.Leading && v.LeaderEpoch == o.LeaderEpoch && v.LogStartOffset == o.LogStartOffset && v.LogEndOffset == o.LogEndOffset &&
		v.HighWatermark == o.HighWatermark && v.LastStableOffset == o.LastStableOffset && v.LatestEpoch == o.LatestEpoch &&
		v.LatestEpochStart == o.LatestEpochStart && v.PriorEpoch == o.PriorEpoch &&
		v.FollowerRefreshMs == o.FollowerRefreshMs && slices.Equal(v.Followers, o.Followers)
}

// Clone is a copy of v that shares nothing with it.
func (v *FetchView) Clone() *FetchView {
	c := *v
	c.Followers = slices.Clone(v.Followers)
	return &c
}

// follower is the record of follower id, nil when it is not a follower.
func (v *FetchView) follower(id int32) *FollowerView {
	for i := range v.Followers {
		if v.Followers[i].ReplicaID == id {
			return &v.Followers[i]
		}
	}
	return nil
}

// readableFor is the end of what a fetch may read (Replica.readableFor).
func (v *FetchView) readableFor(p FetchPartition, isolation IsolationLevel) int64 {
	switch {
	case p.Follower != nil || p.ToLogEnd:
		return v.LogEndOffset
	case isolation == ReadCommitted:
		return v.LastStableOffset
	}
	return v.HighWatermark
}

// ReadFromView answers one partition of a Fetch from the partition's view
// when the replica would read nothing and change nothing, reporting false
// when the fetch must go through the replica (a nil view always does).
// That is when the replica leads, the fetch's leader epoch is the leader's
// (or none), its offset is the end of what it may read (a consumer: the
// high watermark, the last stable offset for read_committed; a follower: the
// log end offset), and for a follower: it is an ISR member, its last
// fetched epoch (Fetch v12+, which the leader checks for divergence) is the
// log's latest, or one that ends at the log end offset (epochEndsAtLogEnd:
// the leader's own epoch holds no records until one is appended, and every
// follower of a partition idle since a leader change fetched through the
// replica, on every Fetch, until then), and the leader recorded this same
// fetch (offset, log start offset, broker epoch)
// less than FollowerRefreshMs before nowMs. A follower's fetch that would
// move anything (its log end offset, the ISR, the high watermark) reaches
// the replica.
func (v *FetchView) ReadFromView(p FetchPartition, isolation IsolationLevel, nowMs int64) (PartitionRead, bool) {
	if v == nil || !v.Leading || p.ToLogEnd || (p.CurrentLeaderEpoch >= 0 && p.CurrentLeaderEpoch != v.LeaderEpoch) ||
		p.FetchOffset < v.LogStartOffset || p.FetchOffset != v.readableFor(p, isolation) {
		return PartitionRead{}, false
	}
	if ff := p.Follower; ff != nil {
		f := v.follower(ff.ReplicaID)
		if f == nil || !f.InISR || f.LogEndOffset != p.FetchOffset || f.LogStartOffset != ff.LogStartOffset || f.BrokerEpoch != ff.BrokerEpoch ||
			nowMs-f.FetchedAtMs >= v.FollowerRefreshMs || nowMs < f.FetchedAtMs {
			return PartitionRead{}, false
		}
		if last := ff.LastFetchedEpoch; last >= 0 && last != v.LatestEpoch && !v.epochEndsAtLogEnd(last, p.FetchOffset) {
			return PartitionRead{}, false
		}
	}
	return PartitionRead{HighWatermark: v.HighWatermark, LastStableOffset: v.LastStableOffset, LogStartOffset: v.LogStartOffset}, true
}

// epochEndsAtLogEnd says whether, in the leader's log, epoch last (older
// than its latest) ends at offset (the log end offset), so that a follower
// whose newest records are of that epoch does not diverge
// (Replica.divergence): the latest epoch starts there, and last is the
// epoch before it, or the log holds no epoch before it (last is older than
// every epoch the log holds: a follower that led the empty log at an
// earlier epoch, say).
func (v *FetchView) epochEndsAtLogEnd(last int32, offset int64) bool {
	return last < v.LatestEpoch && v.LatestEpochStart >= offset && (last == v.PriorEpoch || v.PriorEpoch < 0)
}

// Wakes says whether a fetch of p parked past wakesAbove (the larger of its
// fetch offset and FetchWatch.WaitPast) must wake for view v, as a watch in
// the replica would (Replica.Watch): records past wakesAbove are readable,
// the replica does not lead, or the fetch's leader epoch is not the
// leader's. A nil view (the partition stopped) wakes every fetch.
func (v *FetchView) Wakes(p FetchPartition, isolation IsolationLevel, wakesAbove int64) bool {
	return v == nil || !v.Leading || (p.CurrentLeaderEpoch >= 0 && p.CurrentLeaderEpoch != v.LeaderEpoch) || v.readableFor(p, isolation) > wakesAbove
}

// WakesAbove is the offset past which readable records wake a watch.
func (w FetchWatch) WakesAbove(fetchOffset int64) int64 { return max(fetchOffset, w.WaitPast) }

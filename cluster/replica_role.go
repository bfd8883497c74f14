package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// PartitionChanged applies the partition's record from a newer metadata image
// (replicas, ISR, ELR, leader, leader epoch, partition epoch) at time now. The
// replica leads when the record names this node as leader and follows
// otherwise (with no leader to fetch from when the record names none). A
// record with an older partition epoch than the one applied (the
// controller's answer to AlterPartition may arrive before the record that
// carries it) changes nothing, as in Kafka.
//
// Becoming leader, or leading a new epoch: the start of the epoch is recorded
// (AssignEpochStart) and the followers' fetch states start afresh. Leading the
// same epoch: the committed ISR becomes the record's and an ISR change in
// flight is forgotten (unless the record is the same again, as the partition
// epoch says: becomeLeader). Losing leadership: every pending produce answers
// NOT_LEADER_OR_FOLLOWER and parked watches wake (their fetches then get that
// error). Following a new leader epoch (under the same leader or another):
// the follower truncates before it fetches again (KIP-101, KAFKA-7164).
func (r *Replica) PartitionChanged(p PartitionImage, now Instant) {
	r.observe(now)
	if p.PartitionEpoch < r.partition.PartitionEpoch || p.LeaderEpoch < r.partition.LeaderEpoch {
		return
	}
	if p.Partition != r.partition.Partition {
		panic(fmt.Sprintf("replica: record of partition %d applied to partition %d", p.Partition, r.partition.Partition))
	}
	newEpoch := p.LeaderEpoch > r.partition.LeaderEpoch
	old := r.partition
	r.partition = PartitionImage{Partition: p.Partition, Replicas: slices.Clone(p.Replicas), ISR: sortedISR(p.ISR),
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		ELR: slices.Clone(p.ELR), LastKnownELR: slices.Clone(p.LastKnownELR)}
	if p.Leader == r.opts.NodeID {
		// An epoch this replica never saw may have had another leader,
		// which the followers may have truncated to: what it knew of their
		// logs is stale.
		skipped := p.LeaderEpoch > old.LeaderEpoch+1
		r.becomeLeader(newEpoch, p.PartitionEpoch != old.PartitionEpoch, skipped, now)
		return
	}
	r.becomeFollower(old, newEpoch)
}

// becomeLeader takes the leader role, or a new record while leading (Kafka's
// Partition.makeLeader). An ISR change in flight is forgotten only with a
// new leader or partition epoch: the controller then refuses it. The same
// record again (same partition epoch) keeps it: the controller may still
// commit it, and until its answer the high watermark must wait for the
// replica it adds (KIP-497), or it may pass that replica's log end offset
// and the replica, once in the ISR, be elected without records the high
// watermark covered (replication model test). A leader re-elected past
// epochs it did not see (skippedEpochs: its metadata came from a later
// image) starts its followers' progress over as a new leader does (unlike
// Kafka's makeLeader, which keeps it for any re-elected leader): another
// leader may have led those epochs and its followers truncated to it, and
// their log end offsets known from before would let the high watermark
// pass records they no longer hold.
func (r *Replica) becomeLeader(newEpoch, newPartitionEpoch, skippedEpochs bool, now Instant) {
	wasLeader := r.leader != nil
	if !wasLeader {
		if r.follower != nil {
			// The fetcher of the old leader forgets the partition.
			r.follower = nil
			r.fetchSeq++
			st := r.FetchState()
			r.ready.FetchState = &st
		}
		r.leader = &leaderState{followers: map[int32]*followerProgress{}}
	}
	l := r.leader
	if newEpoch || newPartitionEpoch || !wasLeader {
		// A controller wrote the record: the backoff starts over.
		l.isrChange, l.alterFailures = nil, 0
	}
	l.syncFollowers(r.partition.Replicas, r.opts.NodeID)
	if newEpoch || !wasLeader {
		for _, id := range l.sortedFollowerIDs() {
			l.followers[id].reset(now.MonoMs, r.state.LogEndOffset, !wasLeader || skippedEpochs, slices.Contains(r.partition.ISR, id))
		}
		l.epochStartPending = true
	}
	r.step()
	r.advanceHighWatermark()
}

// leaderStep records where a new leader epoch starts once no log work is in
// flight (the log's end is known then): the followers must reach it to join
// the ISR, and the log records it (AssignEpochStart) unless its cache has it
// already (the shell recorded it while opening the log). A log holding a later
// epoch than the one this replica is asked to lead cannot lead: the record is
// stale, and the partition goes offline here.
func (r *Replica) leaderStep() {
	l := r.leader
	if !l.epochStartPending || r.logWorkInFlight() {
		return
	}
	l.epochStartPending = false
	l.epochStartOffset = r.state.LogEndOffset
	epoch := r.partition.LeaderEpoch
	switch latest := latestEpoch(r.epochs); {
	case latest == epoch:
	case latest > epoch:
		if r.ready.Fatal == nil {
			r.ready.Fatal = fmt.Errorf("asked to lead leader epoch %d, but the log holds epoch %d: %w", epoch, latest, kerr.FencedLeaderEpoch)
		}
	default:
		r.assigningEpoch = true
		r.ready.AssignEpochStart = &AssignEpochStart{Epoch: epoch}
	}
}

// becomeFollower takes the follower role, or a new record while following
// (Kafka's Partition.makeFollower).
func (r *Replica) becomeFollower(old PartitionImage, newEpoch bool) {
	if r.leader != nil {
		r.demote()
	}
	if r.follower == nil || newEpoch || old.Leader != r.partition.Leader {
		r.follower = &followerState{phase: FollowerTruncating, dirty: true}
	}
	r.step()
}

// demote gives up the leader role: what waits for the leader answers
// NOT_LEADER_OR_FOLLOWER (DeleteRecords waiting for the followers, produces still appending are answered now and their
// completion only moves the log end offset), and parked watches wake, so
// their fetches read again and get the error.
func (r *Replica) demote() {
	r.leader = nil
	r.answerDeleteWaits(r.nowMs)
	ids := make([]RequestID, 0, len(r.appending))
	for id := range r.appending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if p := r.appending[id]; !p.orphaned {
			r.reply(p, kerr.NotLeaderForPartition.Code, "the replica stopped leading the partition before the append completed")
			p.orphaned = true
			r.appending[id] = p
		}
	}
	for _, p := range r.awaitingHW {
		r.reply(p, kerr.NotLeaderForPartition.Code, fmt.Sprintf("the replica stopped leading the partition before the high watermark passed offset %d", p.nextOffset-1))
	}
	r.awaitingHW = nil
	r.dropVerifying()
	watches := r.watches
	r.watches = nil
	for _, w := range watches {
		r.wake(w)
	}
}

// sortedISR is a sorted copy of an ISR (Kafka keeps it as a set).
func sortedISR(isr []int32) []int32 {
	out := slices.Clone(isr)
	slices.Sort(out)
	return slices.Compact(out)
}

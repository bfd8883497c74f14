package cluster

import (
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// DeleteRecords waits for the followers, as Kafka's DelayedDeleteRecords: the
// answer comes once the partition's low watermark, the least log start offset
// of the leader and of every follower whose broker may still lead (not fenced
// or shutting down: Kafka counts the replicas of alive brokers), reached the
// offset asked for. Answered at once, a follower that had not yet fetched the
// new log start offset could be elected and serve the deleted records again.
// A follower learns the leader's log start offset from its fetch answers and
// reports its own in its next fetch.

// deleteRecords is one partition of a DeleteRecords request.
type deleteRecords struct {
	id         RequestID
	offset     int64
	deadlineMs int64 // monotonic
}

// lowWatermark is the least log start offset of the leader and of the
// followers that may lead (Kafka's lowWatermarkIfLeader); -1 counts for a
// follower not heard from in this leadership.
//
// A follower in the partition's ELR or last known ELR (KIP-966) may lead
// even while its broker is fenced: the controller elects it when the ISR
// empties, before it fetched again. Kafka's lowWatermarkIfLeader leaves it
// out with the other replicas of brokers not alive; here it is waited for,
// or DeleteRecords times out, since elected with its older log start it
// would serve the deleted records again (the simulator's S13, seed 9320044
// of its deleterecords profile).
func (r *Replica) lowWatermark() int64 {
	low := r.state.LogStartOffset
	for id, f := range r.leader.followers {
		if !r.ineligibleReplica(id) || slices.Contains(r.partition.ELR, id) || slices.Contains(r.partition.LastKnownELR, id) {
			low = min(low, f.logStartOffset)
		}
	}
	return low
}

// awaitLowWatermark answers d once the low watermark reaches its offset.
func (r *Replica) awaitLowWatermark(d deleteRecords) {
	if low := r.lowWatermark(); low >= d.offset {
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, DeleteRecordsReply{ID: d.id, LowWatermark: low})
		return
	}
	r.deleteWaits = append(r.deleteWaits, d)
}

// answerDeleteWaits answers the DeleteRecords the low watermark reached, and
// those past their deadline at nowMs with REQUEST_TIMED_OUT (Kafka's answer
// when its wait expires). Leading no more, every one is answered
// NOT_LEADER_OR_FOLLOWER.
func (r *Replica) answerDeleteWaits(nowMs int64) {
	if len(r.deleteWaits) == 0 {
		return
	}
	low := int64(math.MinInt64)
	if r.leader != nil {
		low = r.lowWatermark()
	}
	r.deleteWaits = slices.DeleteFunc(r.deleteWaits, func(d deleteRecords) bool {
		rep := DeleteRecordsReply{ID: d.id, LowWatermark: low}
		switch {
		case r.leader == nil:
			rep.ErrorCode, rep.LowWatermark = kerr.NotLeaderForPartition.Code, -1
		case low >= d.offset:
		case nowMs >= d.deadlineMs:
			rep.ErrorCode, rep.LowWatermark = kerr.RequestTimedOut.Code, max(low, -1)
		default:
			return false
		}
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, rep)
		return true
	})
}

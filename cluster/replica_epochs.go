package cluster

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// The replica keeps a copy of its log's leader-epoch cache (Kafka's
// LeaderEpochFileCache): the log reports it whenever something the core did
// not decide may have changed it (recovery, a new leader epoch's start, a
// truncation, an append as follower), and the core follows the one change it
// decides itself, a higher log start offset. From it the core answers
// OffsetForLeaderEpoch as a leader and decides truncations as a follower,
// without a round trip through the shell.

// AssignEpochStart asks the shell to record that the replica leads from
// Epoch on, starting at the log end offset (Log.AssignEpochStartOffset), so
// that a follower asking where its older epoch ended learns where this
// leader took over even before any record of the epoch exists (Kafka's
// Partition.makeLeader). Report it with EpochStartAssigned.
type AssignEpochStart struct {
	Epoch int32
}

// OffsetForLeaderEpochRequest is one partition of an OffsetForLeaderEpoch
// request: where does LeaderEpoch end in the leader's log?
type OffsetForLeaderEpochRequest struct {
	// CurrentLeaderEpoch is the asker's idea of the leader epoch (KIP-320),
	// -1 when it sends none.
	CurrentLeaderEpoch int32
	// LeaderEpoch is the epoch asked about.
	LeaderEpoch int32
}

// EpochEndReply answers one partition of an OffsetForLeaderEpoch request:
// the largest epoch at or below the one asked for and where it ends (-1 and
// -1 when the log cannot say), or an error.
type EpochEndReply struct {
	ID          RequestID
	ErrorCode   int16
	LeaderEpoch int32
	EndOffset   int64
}

// OffsetForLeaderEpoch answers one partition of an OffsetForLeaderEpoch
// request, as a leader only (Kafka's lastOffsetForLeaderEpoch with
// fetchOnlyFromLeader): the leader epoch check (KIP-320), then
// NOT_LEADER_OR_FOLLOWER on a follower, then the log's answer. A follower
// truncates by it before fetching (KIP-101, KIP-279); a consumer checks its
// position by it after a leader change (KIP-320).
func (r *Replica) OffsetForLeaderEpoch(id RequestID, req OffsetForLeaderEpochRequest) {
	rep := EpochEndReply{ID: id, LeaderEpoch: -1, EndOffset: -1}
	if code := r.checkLeaderEpoch(req.CurrentLeaderEpoch); code != 0 {
		rep.ErrorCode = code
	} else if r.leader == nil {
		rep.ErrorCode = kerr.NotLeaderForPartition.Code
	} else {
		rep.LeaderEpoch, rep.EndOffset = epochEndOffset(r.epochs, req.LeaderEpoch, r.state.LogEndOffset)
	}
	r.ready.EpochEndReplies = append(r.ready.EpochEndReplies, rep)
}

// checkLeaderEpoch is Kafka's check of the current leader epoch a request
// carries (KIP-320): an older one is fenced, a newer one unknown to this
// replica (its metadata lags); -1 (none sent) passes.
func (r *Replica) checkLeaderEpoch(current int32) int16 {
	switch {
	case current < 0:
		return 0
	case current > r.partition.LeaderEpoch:
		return kerr.UnknownLeaderEpoch.Code
	case current < r.partition.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code
	}
	return 0
}

// EpochStartAssigned reports the outcome of an AssignEpochStart: the log's
// leader-epoch cache after it, or the error. A log that cannot record the
// epoch it is asked to lead (it holds a later one, or the checkpoint cannot
// be written) must not lead: the partition goes offline (Fatal), and the
// controller moves leadership.
func (r *Replica) EpochStartAssigned(epochs []logstore.EpochEntry, err error) {
	if !r.assigningEpoch {
		panic("replica: epoch start assigned without AssignEpochStart")
	}
	r.assigningEpoch = false
	if err != nil {
		if r.ready.Fatal == nil {
			r.ready.Fatal = fmt.Errorf("record the start of leader epoch %d: %w", r.partition.LeaderEpoch, err)
		}
		return
	}
	r.setEpochs(epochs)
	r.step()
}

// setEpochs takes the leader-epoch cache the log reported.
func (r *Replica) setEpochs(epochs []logstore.EpochEntry) {
	for i := 1; i < len(epochs); i++ {
		if epochs[i].Epoch <= epochs[i-1].Epoch || epochs[i].StartOffset <= epochs[i-1].StartOffset {
			panic(fmt.Sprintf("replica: leader-epoch cache out of order: %v", epochs))
		}
	}
	r.epochs = epochs
}

// latestEpoch is the epoch of the log's newest records (or of an epoch it
// began since), -1 when the cache is empty.
func latestEpoch(es []logstore.EpochEntry) int32 {
	if n := len(es); n > 0 {
		return es[n-1].Epoch
	}
	return -1
}

// epochEndOffset answers "where does epoch end" from a leader-epoch cache and
// its log end offset as logstore's Log.EndOffsetForEpoch does (Kafka's
// rules): for the latest epoch, that epoch and the log end offset; otherwise
// the largest epoch at or below the one asked for and the start of the first
// epoch above it; an epoch below every entry gets itself and the first
// entry's start; an epoch past the latest, an empty cache and a negative
// epoch get the undefined answer (-1, -1).
func epochEndOffset(es []logstore.EpochEntry, epoch int32, logEnd int64) (int32, int64) {
	n := len(es)
	switch {
	case epoch < 0 || n == 0:
		return -1, -1
	case es[n-1].Epoch == epoch:
		return epoch, logEnd
	}
	higher := sort.Search(n, func(i int) bool { return es[i].Epoch > epoch })
	switch higher {
	case n:
		return -1, -1
	case 0:
		return epoch, es[0].StartOffset
	}
	return es[higher-1].Epoch, es[higher].StartOffset
}

// epochsFromStart is the cache after the log start offset rose to start, as
// the log makes it: entries wholly below start go, the one holding it starts
// there. It never modifies es.
func epochsFromStart(es []logstore.EpochEntry, start int64) []logstore.EpochEntry {
	i := 0
	for i < len(es) && es[i].StartOffset <= start {
		i++
	}
	if i == 0 || (i == 1 && es[0].StartOffset == start) {
		return es
	}
	out := make([]logstore.EpochEntry, 0, len(es)-i+1)
	out = append(out, logstore.EpochEntry{Epoch: es[i-1].Epoch, StartOffset: start})
	return append(out, es[i:]...)
}

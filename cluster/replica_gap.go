package cluster

import (
	"sort"

	"gregor/logstore"
)

// emptyStretch is what a leader answers a follower's read with when the
// read found no batch from its fetch offset up to the log end offset the
// fetch saw (rep.ReadUpTo), and a consumer's when it found none up to the
// high watermark (the last stable offset) the fetch saw: one empty batch
// per leader epoch of the stretch (logstore.EmptyStretchRecords), or nil.
//
// A read at the log start offset raises it past the stretch instead
// (emptyPrefixEnd) when it can: its answer is an empty stretch only when the
// high watermark bars the raise (it does not pass the fetch offset).
//
// A leader's log can end in a stretch that holds no batch: compaction
// removed its records, then a truncation cut off the batches after them
// (KAFKA-9065; the log end offset stays where the truncation put it). A
// follower fetching inside that stretch reads nothing, so its log end
// offset never reaches the leader's, and it stays out of the ISR until the
// next record is produced. Empty batches over the stretch move its log end
// as the leader's is: the follower claims no offset of a batch the leader
// holds (there is none below ReadUpTo past its fetch offset; a read always
// returns the first batch past its offset, and the log gains none below
// its end), and its log start offset is untouched (S12). Each batch's
// leader epoch is the one the leader's cache gives its offsets, so the
// follower's cache starts each epoch where the leader's does. Compaction
// leaves such batches in Kafka too (RETAIN_EMPTY), and readers skip their
// offsets.
//
// A consumer in that stretch read nothing too, for ever: a final read (or
// a changelog restore) that waits to reach the high watermark never ended
// (the scenario compaction-empty-stretch, KAFKA-9065's loop in a client).
// Below the high watermark no batch can appear later (the committed prefix
// only loses batches to compaction), so the consumer skips the stretch as
// it skips a batch compaction emptied.
func (r *Replica) emptyStretch(rd prefixRead, rep FetchReply, recs *logstore.Records) []logstore.EpochRange {
	from, to := rd.fetchOffset, rep.ReadUpTo
	if recs == nil || recs.Len() > 0 || recs.NextOffset > from || r.leader == nil || r.partition.LeaderEpoch != rd.leaderEpoch ||
		from < r.state.LogStartOffset || r.logWork.raisingLogStart || to > r.state.LogEndOffset || from >= to {
		return nil
	}
	es := r.epochs
	i := sort.Search(len(es), func(i int) bool { return es[i].StartOffset > from })
	if i == 0 {
		return nil // no epoch holds the stretch's start: leave the follower to its fetches
	}
	out := make([]logstore.EpochRange, 0, 2)
	start, epoch := from, es[i-1].Epoch
	for ; i < len(es) && es[i].StartOffset < to; i++ {
		out = append(out, logstore.EpochRange{FirstOffset: start, LastOffset: es[i].StartOffset - 1, LeaderEpoch: epoch})
		start, epoch = es[i].StartOffset, es[i].Epoch
	}
	return append(out, logstore.EpochRange{FirstOffset: start, LastOffset: to - 1, LeaderEpoch: epoch})
}

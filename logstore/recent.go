package logstore

import "sort"

// The recent batches: once a follower read it (ReadUntailed), the active
// segment keeps the header and position of the last batches the appender
// wrote (at least an index interval's worth of small ones); a log nobody
// replicates keeps none. A read finds its first batch by the offset index and then walks
// the batch headers from that entry to the batch holding its offset, and
// walks the headers of the batches it returns; a caught-up reader (a
// follower fetching what was just appended, above all) reads from the last
// entry on, where every header walked was read back from the file (one
// pread each: a follower's read keeps no tail), dozens per Fetch when the
// batches are small (transactions' data, markers and __transaction_state
// records). With the list those headers come from memory.
//
// The list is published like the index: views take it as it is under the
// log's lock and the appender never rewrites what a view may hold. It
// appends in place (a view's slice ends before the new entry); when full
// (recentBatchesMax) it starts a new slice with its last quarter, when the
// batch does not follow the last one listed a new one with the batch
// alone, and a truncation drops it (nil). Reads of batches it does not list
// walk the headers as before.

// recentBatch is one batch the appender wrote: its header and position.
type recentBatch struct {
	pos int64
	h   batchHeader
}

// recentBatchesMax bounds a segment's list, which holds the last 32 to 128
// batches: with the default log.index.interval.bytes (4 KiB) and the
// smallest batches (61 bytes of header and one empty record), an index
// interval holds about 70 batches.
const recentBatchesMax = 128

// noteRecent lists the batch h the appender wrote at pos (caller holds
// Log.mu for writing).
func noteRecent(seg *segment, h batchHeader, pos int64) {
	n := len(seg.recent)
	switch {
	case n == 0 || seg.recent[n-1].pos+seg.recent[n-1].h.sizeBytes != pos:
		seg.recent = make([]recentBatch, 0, 8)
	case n >= recentBatchesMax:
		kept := seg.recent[n-recentBatchesMax/4:]
		seg.recent = append(make([]recentBatch, 0, recentBatchesMax), kept...)
	}
	seg.recent = append(seg.recent, recentBatch{pos: pos, h: h})
}

// recentHolding returns the listed batch that holds offset, if the view
// lists it.
func (v *segmentView) recentHolding(offset int64) (recentBatch, bool) {
	r := v.recent
	if len(r) == 0 || offset < r[0].h.baseOffset || offset > r[len(r)-1].h.lastOffset() {
		return recentBatch{}, false
	}
	i := sort.Search(len(r), func(i int) bool { return r[i].h.lastOffset() >= offset })
	return r[i], true
}

// header returns the header of the batch at pos: from the view's list when
// it lists that batch, else read back (readBatchHeader).
func (v *segmentView) header(pos int64, cache BlockCache, blockBytes int64) (batchHeader, error) {
	if r := v.recent; len(r) > 0 && pos >= r[0].pos {
		i := sort.Search(len(r), func(i int) bool { return r[i].pos >= pos })
		if i < len(r) && r[i].pos == pos {
			return r[i].h, nil
		}
	}
	return v.readBatchHeader(pos, cache, blockBytes)
}

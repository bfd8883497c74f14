package logstore

import (
	"fmt"
	"sort"
	"sync/atomic"
)

// Held batches: a leader's log may keep, by reference, the buffers its
// recent appends came from (the produce request's own pooled frame, whose
// batch bytes the append rewrote in place to exactly what it wrote), and
// serve reads of those positions from them. Its followers, which fetch what
// was just appended, then get memory the socket sends with a plain write
// instead of a sendfile from the segment file (about twice a write's cost
// on a virtual machine), and the log copies nothing into a tail block for
// them. The appender lets a held batch go once every in-sync follower has
// it (ReleaseHeldBelow the high watermark), at a roll or truncation, when
// the log closes, and never holds more than its own bound and the node's
// HoldBudget allow: past them an append is written as before and its
// buffer let go at once. A reader takes a reference to each held batch it
// may send, so a buffer goes back to its owner only when the log and every
// reader let go of it.

// maxHeldBytesPerLog bounds the bytes one log holds, so that one partition
// whose followers stall cannot take the node's whole budget.
const maxHeldBytesPerLog = 16 << 20

// HoldBudget bounds the bytes of appended batches that the logs of a node
// hold in their producers' buffers (held.go), shared by all of them. A nil
// *HoldBudget holds nothing. It is safe for concurrent use.
type HoldBudget struct {
	maxBytes int64
	used     atomic.Int64
	// total counts every byte ever held.
	total atomic.Int64
}

// NewHoldBudget returns a budget of maxBytes (0 or less: nothing is held).
func NewHoldBudget(maxBytes int64) *HoldBudget { return &HoldBudget{maxBytes: maxBytes} }

// UsedBytes is the size of the batches held now.
func (b *HoldBudget) UsedBytes() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// TotalBytes is the size of every batch held so far.
func (b *HoldBudget) TotalBytes() int64 {
	if b == nil {
		return 0
	}
	return b.total.Load()
}

// take reserves n bytes, or reports false (nothing reserved) past the bound.
func (b *HoldBudget) take(n int64) bool {
	if b == nil || n <= 0 {
		return false
	}
	if b.used.Add(n) > b.maxBytes {
		b.used.Add(-n)
		return false
	}
	b.total.Add(n)
	return true
}

func (b *HoldBudget) give(n int64) { b.used.Add(-n) }

// heldBatch is one appended batch whose bytes the log serves from its
// appender's buffer: bytes are the segment's bytes at pos. The log holds
// one reference while it lists the batch, each reader one more; the last
// release lets go of the buffer (release) and of the budget.
type heldBatch struct {
	refs       atomic.Int32
	bytes      []byte
	pos        int64
	nextOffset int64
	budget     *HoldBudget
	// release lets the buffer go; shared by the batches of one append,
	// it is called when the last of them is let go (remaining counts them).
	release *heldBuffer
}

// heldBuffer is the caller's buffer behind the batches of one append.
type heldBuffer struct {
	remaining atomic.Int32
	release   func()
}

func (h *heldBatch) ref() {
	if h.refs.Add(1) <= 1 {
		panic("logstore: a reference was taken to a held batch already let go")
	}
}

func (h *heldBatch) unref() {
	switch n := h.refs.Add(-1); {
	case n == 0:
		h.budget.give(int64(len(h.bytes)))
		if h.release.remaining.Add(-1) == 0 {
			h.release.release()
		}
	case n < 0:
		panic("logstore: a held batch was let go more often than referenced")
	}
}

// AppendValidatedHeld is AppendValidated for batches in a buffer the log may
// keep until it calls release (exactly once, on every outcome; maybe before
// it returns): it then serves reads of those bytes from that buffer while it
// holds them (see held.go). The caller must not touch the batches' memory
// after the call.
func (l *Log) AppendValidatedHeld(batches [][]byte, leaderEpoch int32, nowMs int64, release func()) (AppendResult, error) {
	res, err := l.appendAsLeader(batches, leaderEpoch, nowMs, l.checkParsedBatch)
	if err != nil || !l.hold(batches, res, release) {
		release()
	}
	return res, err
}

// AppendValidatedHeldEach is AppendValidated for batches each in its own
// buffer (a group commit of several produces): releases[i], when not nil,
// lets go of batches[i]'s buffer, which the log may keep and serve reads of
// batches[i] from until it calls it (exactly once; maybe before it
// returns). A batch with a nil release is written and not held. On error
// nothing is appended and no release is called: the caller keeps every
// buffer (to append the batches one by one, say). On success the caller
// must not touch the batches' memory after the call.
func (l *Log) AppendValidatedHeldEach(batches [][]byte, releases []func(), leaderEpoch int32, nowMs int64) (AppendResult, error) {
	if len(releases) != len(batches) {
		panic(fmt.Sprintf("logstore: %d releases for %d batches", len(releases), len(batches)))
	}
	res, err := l.appendAsLeader(batches, leaderEpoch, nowMs, l.checkParsedBatch)
	if err != nil {
		return res, err
	}
	l.holdEach(batches, releases, res)
	return res, nil
}

// holdEach lists, of the batches just appended (they end at the active
// segment's end), those with a release as held in their own buffers, as
// far as the bounds leave room; it lets go at once of the others' buffers.
func (l *Log) holdEach(batches [][]byte, releases []func(), res AppendResult) {
	seg := l.active()
	var total int64
	for _, p := range batches {
		total += int64(len(p))
	}
	pos := seg.sizeBytes - total
	pieces := make([]*heldBatch, 0, len(batches))
	for i, p := range batches {
		n, release := int64(len(p)), releases[i]
		at := pos
		pos += n
		if release == nil {
			continue
		}
		if n == 0 || l.heldBytes+n > maxHeldBytesPerLog || !l.holdBudget.take(n) {
			release()
			continue
		}
		next := res.LogEndOffset
		if i+1 < len(batches) {
			next = res.BaseOffsets[i+1]
		}
		buf := &heldBuffer{release: release}
		buf.remaining.Store(1)
		h := &heldBatch{bytes: p, pos: at, nextOffset: next, budget: l.holdBudget, release: buf}
		h.refs.Store(1)
		pieces = append(pieces, h)
		l.heldBytes += n
	}
	if len(pieces) > 0 {
		l.listHeld(seg, pieces)
	}
}

// hold lists the batches just appended (they end at the active segment's
// end) as held in the buffer release lets go of, or reports false when the
// bounds leave no room for them.
func (l *Log) hold(batches [][]byte, res AppendResult, release func()) bool {
	var total int64
	for _, p := range batches {
		total += int64(len(p))
	}
	if total == 0 || l.heldBytes+total > maxHeldBytesPerLog || !l.holdBudget.take(total) {
		return false
	}
	seg := l.active()
	buf := &heldBuffer{release: release}
	buf.remaining.Store(int32(len(batches)))
	pieces := make([]*heldBatch, len(batches))
	pos := seg.sizeBytes - total
	for i, p := range batches {
		next := res.LogEndOffset
		if i+1 < len(batches) {
			next = res.BaseOffsets[i+1]
		}
		h := &heldBatch{bytes: p, pos: pos, nextOffset: next, budget: l.holdBudget, release: buf}
		h.refs.Store(1)
		pieces[i] = h
		pos += int64(len(p))
	}
	l.heldBytes += total
	l.listHeld(seg, pieces)
	return true
}

// listHeld adds pieces, held batches of seg in position order, to the held
// list; those listed before them go when they are of another segment or
// overlap them (a truncation rewrote their positions).
func (l *Log) listHeld(seg *segment, pieces []*heldBatch) {
	var stale []*heldBatch
	l.mu.Lock()
	if l.heldSegID != seg.id || (len(l.held) > 0 && l.held[len(l.held)-1].pos+int64(len(l.held[len(l.held)-1].bytes)) > pieces[0].pos) {
		stale, l.held = l.held, nil
	}
	l.heldSegID = seg.id
	l.held = append(l.held, pieces...)
	l.mu.Unlock()
	l.letGo(stale)
}

// ReleaseHeldBelow lets go of the held batches that end at or below offset
// (every in-sync follower has them: the high watermark passed them), and
// of all of them when the active segment is not theirs any more (a roll or
// truncation). Appender only.
func (l *Log) ReleaseHeldBelow(offset int64) {
	if len(l.held) == 0 {
		return
	}
	var gone []*heldBatch
	l.mu.Lock()
	if len(l.segments) == 0 || l.active().id != l.heldSegID {
		gone, l.held = l.held, nil
	} else {
		n := sort.Search(len(l.held), func(i int) bool { return l.held[i].nextOffset > offset })
		// Reslice, never clear: readers' views share the array.
		gone, l.held = l.held[:n:n], l.held[n:]
	}
	if len(l.held) == 0 {
		l.held = nil
	}
	l.mu.Unlock()
	l.letGo(gone)
}

// releaseAllHeld lets go of every held batch (the log closes).
func (l *Log) releaseAllHeld() {
	l.mu.Lock()
	gone := l.held
	l.held = nil
	l.mu.Unlock()
	l.letGo(gone)
}

// letGo drops the log's reference to batches it no longer lists.
func (l *Log) letGo(gone []*heldBatch) {
	for _, h := range gone {
		l.heldBytes -= int64(len(h.bytes))
		h.unref()
	}
}

// heldFor returns, with a reference to each, the held batches of segment v
// that a read from offset of up to maxBytes may send (caller holds mu).
func (l *Log) heldFor(v *segmentView, offset, maxBytes int64) []*heldBatch {
	if len(l.held) == 0 || l.heldSegID != v.id {
		return nil
	}
	i := sort.Search(len(l.held), func(i int) bool { return l.held[i].nextOffset > offset })
	j, n := i, int64(0)
	for ; j < len(l.held) && (j == i || n < maxBytes); j++ {
		n += int64(len(l.held[j].bytes))
	}
	held := l.held[i:j:j]
	for _, h := range held {
		h.ref()
	}
	return held
}

package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// txnIndexFileExt names a segment's aborted-transaction index: one entry per
// abort marker in the segment (Kafka's .txnindex layout: version, producer
// id, first offset, last offset, last stable offset).
const txnIndexFileExt = ".txnindex"

const txnIndexEntryBytes = 34

// AbortedTxn is an aborted transaction: its producer, the first offset of
// its records and the offset of its abort marker (LastOffset).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func encodeTxnIndex(entries []AbortedTxn) []byte {
	p := make([]byte, 0, len(entries)*txnIndexEntryBytes)
	for _, e := range entries {
		p = binary.BigEndian.AppendUint16(p, 0)
		p = binary.BigEndian.AppendUint64(p, uint64(e.ProducerID))
		p = binary.BigEndian.AppendUint64(p, uint64(e.FirstOffset))
		p = binary.BigEndian.AppendUint64(p, uint64(e.LastOffset))
		p = binary.BigEndian.AppendUint64(p, uint64(e.LastStableOffset))
	}
	return p
}

func decodeTxnIndex(p []byte) ([]AbortedTxn, error) {
	if len(p)%txnIndexEntryBytes != 0 {
		return nil, fmt.Errorf("%w: transaction index of %d bytes", ErrCorruption, len(p))
	}
	var out []AbortedTxn
	for ; len(p) > 0; p = p[txnIndexEntryBytes:] {
		if v := binary.BigEndian.Uint16(p); v != 0 {
			return nil, fmt.Errorf("%w: transaction index entry version %d", ErrCorruption, v)
		}
		out = append(out, AbortedTxn{ProducerID: int64(binary.BigEndian.Uint64(p[2:])), FirstOffset: int64(binary.BigEndian.Uint64(p[10:])),
			LastOffset: int64(binary.BigEndian.Uint64(p[18:])), LastStableOffset: int64(binary.BigEndian.Uint64(p[26:]))})
	}
	return out, nil
}

// AbortedTransactions lists the aborted transactions with records in
// [from, to): those whose marker is at or past from and whose first record
// is before to, by marker offset (what a read_committed Fetch lists).
func (l *Log) AbortedTransactions(from, to int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	i := sort.Search(len(l.aborted), func(i int) bool { return l.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range l.aborted[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// noteCompletedTxn records an aborted transaction whose marker seg holds, in
// memory and in the segment's .txnindex (rewritten whole: aborts are rare).
func (l *Log) noteCompletedTxn(seg *segment, done CompletedTxn) {
	if !done.Aborted {
		return
	}
	a := AbortedTxn{ProducerID: done.ProducerID, FirstOffset: done.FirstOffset, LastOffset: done.LastOffset, LastStableOffset: done.LastOffset}
	l.mu.Lock()
	if n := len(l.aborted); n > 0 && l.aborted[n-1].LastOffset >= a.LastOffset {
		l.mu.Unlock()
		return // known already (from the index, rebuilding)
	}
	l.aborted = append(l.aborted, a)
	l.mu.Unlock()
	l.writeTxnIndex(seg.baseOffset, seg.nextOffset)
}

// writeTxnIndex rewrites the .txnindex of the segment [base, end).
func (l *Log) writeTxnIndex(base, end int64) {
	if err := l.rewriteTxnIndex(base, end); err != nil {
		// The markers are in the log: a restart without the index
		// rebuilds it from the batches after the producer snapshot.
		l.logger.Warn("transaction index not written", zap.Error(err))
	}
}

// rewriteTxnIndex replaces the .txnindex of the segment [base, end) with
// the aborts in memory whose marker it holds (removes it when there is
// none), durably.
func (l *Log) rewriteTxnIndex(base, end int64) error {
	l.mu.RLock()
	var entries []AbortedTxn
	for _, a := range l.aborted {
		if a.LastOffset >= base && a.LastOffset < end {
			entries = append(entries, a)
		}
	}
	l.mu.RUnlock()
	name := path.Join(l.dir, segmentFileName(base, txnIndexFileExt))
	if len(entries) == 0 {
		if err := l.fs.Remove(name); errors.Is(err, errNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync directory after removing %s: %w", name, err)
		}
		return nil
	}
	if err := writeFileAtomic(l.fs, name, encodeTxnIndex(entries)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// loadTxnIndexes reads the .txnindex of every segment, keeping the aborts
// whose marker lies in the segment's range, below the log end offset.
//
// An index is written durably when its marker is appended, before the
// marker itself is synced: after a power loss (or a recovery that cut a
// torn tail) it can name markers the log no longer holds. Those entries
// are dropped from the files here, not only from memory: the log grows
// past their offsets again with other batches, and an entry read back
// then would mark another transaction's records aborted for read_committed
// consumers (a committed transaction never delivered). A file that cannot
// be rewritten fails the load.
func (l *Log) loadTxnIndexes() error {
	var all []AbortedTxn
	var rewrite [][2]int64 // [base, end) of the segments whose index names markers past their end
	for i, seg := range l.segments {
		name := path.Join(l.dir, segmentFileName(seg.baseOffset, txnIndexFileExt))
		// A segment covers the offsets up to the next one's base (a
		// cleaned segment may have lost the marker of an abort its
		// index keeps for readers), the active one up to the log end.
		end := l.logEndOffset
		if i+1 < len(l.segments) {
			end = min(end, l.segments[i+1].baseOffset)
		}
		p, err := ReadWholeFile(l.fs, name, 64<<20)
		if err != nil {
			continue
		}
		entries, err := decodeTxnIndex(p)
		if err != nil {
			l.logger.Warn("ignoring transaction index", zap.String("file", name), zap.Error(err))
			continue
		}
		stale := false
		for _, a := range entries {
			if a.LastOffset >= seg.baseOffset && a.LastOffset < end {
				all = append(all, a)
			} else {
				stale = true
			}
		}
		if stale {
			l.logger.Warn("transaction index names markers the log does not hold, rewriting it", zap.String("file", name),
				zap.Int64("log_end_offset", l.logEndOffset))
			rewrite = append(rewrite, [2]int64{seg.baseOffset, end})
		}
	}
	slices.SortFunc(all, func(a, b AbortedTxn) int { return int(max(min(a.LastOffset-b.LastOffset, 1), -1)) })
	all = slices.CompactFunc(all, func(a, b AbortedTxn) bool { return a.LastOffset == b.LastOffset })
	l.mu.Lock()
	l.aborted = all
	l.mu.Unlock()
	for _, r := range rewrite {
		if err := l.rewriteTxnIndex(r[0], r[1]); err != nil {
			return fmt.Errorf("drop stale transaction index entries: %w", err)
		}
	}
	return nil
}

// truncateAbortedTxns forgets the aborts whose marker is at or past end and
// rewrites the index of the segment holding end.
func (l *Log) truncateAbortedTxns(end int64) {
	l.mu.Lock()
	i := sort.Search(len(l.aborted), func(i int) bool { return l.aborted[i].LastOffset >= end })
	cut := i < len(l.aborted)
	l.aborted = l.aborted[:i]
	l.mu.Unlock()
	if cut && len(l.segments) > 0 {
		seg := l.active()
		l.writeTxnIndex(seg.baseOffset, end)
	}
}

// TxnMarkerBatch encodes the control batch that ends a producer's
// transaction (a commit or abort marker) at wall time nowMs, base offset 0:
// one control record whose key holds the marker type and whose value the
// coordinator epoch.
func TxnMarkerBatch(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, nowMs int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	// The key (version, type) and the value (version, coordinator epoch)
	// share one buffer, and the record is encoded twice into another (for
	// its length, then with it): a marker is written per partition of
	// every transaction.
	kv := make([]byte, 0, 10)
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(kv, 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(kv[4:4], 0), uint32(coordinatorEpoch))
	rec := kmsg.Record{Key: key, Value: value}
	records := rec.AppendTo(make([]byte, 0, 32))
	rec.Length = int32(len(records) - 1)
	records = rec.AppendTo(records[:0])
	b := kmsg.RecordBatch{Magic: 2, Attributes: 0x30, LastOffsetDelta: 0, FirstTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: producerID, ProducerEpoch: producerEpoch, FirstSequence: -1, NumRecords: 1, Records: records}
	raw := b.AppendTo(make([]byte, 0, BatchHeaderBytes+len(records)))
	binary.BigEndian.PutUint32(raw[batchLengthPos:], uint32(len(raw)-batchLengthOverhead))
	ChecksumBatch(raw)
	return raw
}

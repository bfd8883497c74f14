package logstore

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"

	"gregor/logstore/vfs"
)

// idempotentBatch is a batch of n records of producer pid at epoch and
// base sequence seq.
func idempotentBatch(tb testingT, pid int64, epoch int16, seq int32, n int, tsMs int64) []byte {
	tb.Helper()
	p := simpleBatch(tb, n, 8, tsMs, int(seq))
	b, err := ParseBatch(p)
	if err != nil {
		tb.Fatal(err)
	}
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, epoch, seq
	raw := b.RecordBatch.AppendTo(nil)
	ChecksumBatch(raw)
	return raw
}

func appendProducerBatches(t *testing.T, l *Log, batches ...[]byte) {
	t.Helper()
	if _, err := l.Append(batches, 0, 0); err != nil {
		t.Fatal(err)
	}
}

func TestProducerStateLastBatchesAndEpochs(t *testing.T) {
	s := NewProducerStates()
	for seq := int32(0); seq < 70; seq += 10 {
		s.Apply(ProducerBatchInfo{ProducerID: 7, ProducerEpoch: 1, BaseSequence: seq, LastSequence: seq + 9, FirstOffset: int64(seq), LastOffset: int64(seq) + 9})
	}
	e, _ := s.Get(7)
	if len(e.Batches) != ProducerBatchesKept || e.Batches[0].FirstSequence != 20 || e.LastSequence() != 69 {
		t.Fatalf("entry %+v", e)
	}
	if b, ok := e.FindBatch(40, 49); !ok || b.FirstOffset != 40 {
		t.Fatalf("batch 40..49: %+v %t", b, ok)
	}
	s.Apply(ProducerBatchInfo{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 0, LastSequence: 0, FirstOffset: 70, LastOffset: 70})
	if e, _ := s.Get(7); e.ProducerEpoch != 2 || len(e.Batches) != 1 {
		t.Fatalf("after a new epoch: %+v", e)
	}
	if got := addSequence(math.MaxInt32-1, 3); got != 1 {
		t.Fatalf("sequence wrap: %d", got)
	}
	back, err := decodeProducerSnapshot(encodeProducerSnapshot(s))
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("snapshot round trip: %v\n%+v\n%+v", err, back, s)
	}
}

// The log's producer state is the same after a clean restart (snapshot),
// an unclean one (rebuilt from the batches) and follows a truncation.
func TestLogProducerStateSurvivesRestartAndTruncation(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	for i := 0; i < 40; i++ {
		appendProducerBatches(t, l, idempotentBatch(t, int64(i%3), 0, int32(i/3)*4, 4, 1000+int64(i)))
	}
	want := l.ProducerStates()
	if want.Len() != 3 {
		t.Fatalf("%d producers", want.Len())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	if got := l.ProducerStates(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a clean restart:\n%+v\nwant\n%+v", got, want)
	}
	// An unclean restart with no snapshot at all: rebuilt from the log.
	offsets, _ := l.producerSnapshots()
	for _, off := range offsets {
		_ = mem.Remove("/p/" + segmentFileName(off, producerSnapshotExt))
	}
	l2 := openTestLog(t, mem, "/p", cfg, nil, 0)
	if got := l2.ProducerStates(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt from the log:\n%+v\nwant\n%+v", got, want)
	}
	_ = l.Close()
	// Truncating drops the batches past the cut.
	cut := l2.LogEndOffset() - 8 // the last two batches (producers 0 and 2)
	if err := l2.Truncate(cut, 0); err != nil {
		t.Fatal(err)
	}
	e, _ := l2.ProducerStates().Get(0)
	if e.Batches[len(e.Batches)-1].LastOffset >= cut {
		t.Fatalf("producer 0 after truncation to %d: %+v", cut, e)
	}
	_ = l2.Close()
}

// transactionalBatch is a batch of two records of producer pid (epoch 0),
// marked transactional, from sequence seq.
func transactionalBatch(t *testing.T, pid int64, seq int32) []byte {
	b := idempotentBatch(t, pid, 0, seq, 2, 1000)
	b[batchAttributesPos+1] |= 0x10
	ChecksumBatch(b)
	return b
}

// Transactions: the open ones set the first unstable offset, an abort
// marker lands in the aborted-transaction index, which survives a restart
// (with or without its .txnindex file) and follows a truncation.
func TestLogAbortedTransactions(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	appendProducerBatches(t, l, transactionalBatch(t, 1, 0)) // 0-1
	appendProducerBatches(t, l, transactionalBatch(t, 2, 0)) // 2-3
	if first, ok := l.ProducerStates().FirstUnstableOffset(); !ok || first != 0 {
		t.Fatalf("first unstable offset %d %t", first, ok)
	}
	appendProducerBatches(t, l, TxnMarkerBatch(1, 0, 5, false, 1000)) // 4: abort 1
	appendProducerBatches(t, l, TxnMarkerBatch(2, 0, 5, true, 1000))  // 5: commit 2
	appendProducerBatches(t, l, transactionalBatch(t, 1, 2))          // 6-7
	appendProducerBatches(t, l, TxnMarkerBatch(1, 0, 5, false, 1000)) // 8: abort 1
	want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 4}, {ProducerID: 1, FirstOffset: 6, LastOffset: 8, LastStableOffset: 8}}
	if got := l.AbortedTransactions(0, 9); !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted %+v, want %+v", got, want)
	}
	if got := l.AbortedTransactions(5, 6); len(got) != 0 {
		t.Fatalf("aborted in [5, 6): %+v", got)
	}
	if _, ok := l.ProducerStates().FirstUnstableOffset(); ok {
		t.Fatal("a transaction is still open")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	if got := l.AbortedTransactions(0, 9); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart: %+v", got)
	}
	if err := l.Truncate(6, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 9); !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("after truncating to 6: %+v", got)
	}
	_ = l.Close()
	// Without index files or snapshots, the log rebuilds both.
	names, _ := mem.ReadDir("/p")
	for _, name := range names {
		if strings.HasSuffix(name, txnIndexFileExt) || strings.HasSuffix(name, producerSnapshotExt) {
			_ = mem.Remove("/p/" + name)
		}
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	if got := l.AbortedTransactions(0, 9); !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("rebuilt: %+v", got)
	}
}

// Each producer's latest ended transaction (where it started, where its
// marker is) is kept, in snapshots too; a version 1 snapshot, which has
// none, still reads.
func TestProducerStateLastEndedTransaction(t *testing.T) {
	s := NewProducerStates()
	s.Apply(ProducerBatchInfo{ProducerID: 7, BaseSequence: 0, LastSequence: 1, FirstOffset: 0, LastOffset: 1, Transactional: true})
	s.Apply(ProducerBatchInfo{ProducerID: 8, BaseSequence: 0, LastSequence: 0, FirstOffset: 2, LastOffset: 2, Transactional: true})
	s.Apply(ProducerBatchInfo{ProducerID: 7, BaseSequence: -1, LastSequence: -1, FirstOffset: 3, LastOffset: 3, Control: true, Commit: true})
	s.Apply(ProducerBatchInfo{ProducerID: 7, BaseSequence: 2, LastSequence: 2, FirstOffset: 4, LastOffset: 4, Transactional: true})
	s.Apply(ProducerBatchInfo{ProducerID: 7, BaseSequence: -1, LastSequence: -1, FirstOffset: 5, LastOffset: 5, Control: true})
	// A marker for a producer with no transaction open changes nothing.
	s.Apply(ProducerBatchInfo{ProducerID: 7, BaseSequence: -1, LastSequence: -1, FirstOffset: 6, LastOffset: 6, Control: true})
	want := []CompletedTxn{{ProducerID: 7, FirstOffset: 4, LastOffset: 5}}
	if got := s.EndedSince(0); !reflect.DeepEqual(got, want) {
		t.Fatalf("ended since 0: %+v, want %+v", got, want)
	}
	if got := s.EndedSince(6); len(got) != 0 {
		t.Fatalf("ended since 6: %+v", got)
	}
	if e, _ := s.Get(8); e.LastTxnMarkerOffset != -1 || e.TxnFirstOffset != 2 {
		t.Fatalf("producer 8: %+v", e)
	}
	back, err := decodeProducerSnapshot(encodeProducerSnapshot(s))
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("snapshot round trip: %v\n%+v\n%+v", err, back, s)
	}
	// Version 1: the same fields without the latest ended transaction.
	v1 := []byte{1}
	v1 = binary.AppendUvarint(v1, 1)
	for _, v := range []int64{8, 0, 0, -1, 2} { // id, epoch, last timestamp, coordinator epoch, open transaction
		v1 = binary.AppendVarint(v1, v)
	}
	v1 = binary.AppendUvarint(v1, 0)
	v1 = binary.BigEndian.AppendUint32(v1, crc32.Checksum(v1, crc32c))
	old, err := decodeProducerSnapshot(v1)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := old.Get(8); !ok || e.TxnFirstOffset != 2 || e.LastTxnFirstOffset != -1 || e.LastTxnMarkerOffset != -1 {
		t.Fatalf("version 1 snapshot: %+v", e)
	}
}

// An abort marker lost to a power loss (its .txnindex entry written
// durably, the marker not yet synced) is gone for good: once the log grows
// past the marker's offset again with other batches, neither a restart nor
// a truncation (both reload the index files) brings the entry back, which
// would mark the new batches of the same producer aborted for
// read_committed readers (simulator seed 13500145: a committed
// transaction never delivered).
func TestAbortLostToPowerLossStaysLost(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	appendProducerBatches(t, l, transactionalBatch(t, 1, 0)) // 0-1
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	appendProducerBatches(t, l, transactionalBatch(t, 1, 2))          // 2-3, not synced
	appendProducerBatches(t, l, TxnMarkerBatch(1, 0, 5, false, 1000)) // 4: abort 1, not synced
	if got := l.AbortedTransactions(0, 5); len(got) != 1 {
		t.Fatalf("aborted before the power loss: %+v", got)
	}
	mem.Crash()
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	if end := l.LogEndOffset(); end != 2 {
		t.Fatalf("log end offset %d after the power loss, want 2", end)
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 0 {
		t.Fatalf("aborted after the power loss: %+v", got)
	}
	// The same producer's next transaction lands past the lost marker's
	// offset and commits.
	appendProducerBatches(t, l, transactionalBatch(t, 1, 2))          // 2-3: its first records' retry
	appendProducerBatches(t, l, transactionalBatch(t, 1, 4))          // 4-5
	appendProducerBatches(t, l, TxnMarkerBatch(1, 0, 5, true, 1000))  // 6: commit 1
	appendProducerBatches(t, l, idempotentBatch(t, 2, 0, 0, 2, 1000)) // 7-8
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 0 {
		t.Fatalf("aborted after the commit: %+v", got)
	}
	if err := l.Truncate(7, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 0 {
		t.Fatalf("aborted after a truncation: %+v", got)
	}
	mem.Crash()
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	if end := l.LogEndOffset(); end != 7 {
		t.Fatalf("log end offset %d after the restart, want 7", end)
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 0 {
		t.Fatalf("aborted after the restart: %+v", got)
	}
}

// A .txnindex whose segment is gone (recovery dropped it) is removed at
// open with the other indexes without a log: a segment made later at the
// same base offset would read its entries.
func TestOrphanTxnIndexRemovedAtOpen(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := "/p/" + segmentFileName(40, txnIndexFileExt)
	if err := writeFileAtomic(mem, orphan, encodeTxnIndex([]AbortedTxn{{ProducerID: 1, FirstOffset: 40, LastOffset: 41, LastStableOffset: 41}})); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	if _, err := mem.Stat(orphan); err == nil {
		t.Fatalf("%s still there after the open", orphan)
	}
}

package logstore

import (
	"math"
	"reflect"
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

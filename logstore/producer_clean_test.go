package logstore

import (
	"testing"

	"gregor/logstore/vfs"
)

// Compaction removes the records of aborted transactions and keeps committed
// transactional records and every marker (the producer's last batch, here
// its abort marker, is kept anyway).
func TestCleanerRemovesAbortedTransactions(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	txnBatch := func(pid int64, seq int32, key string) []byte {
		raw, _ := keyedBatch(t, pid, 1000, keyedRecord{key: key, value: "txn"})
		b, err := ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		b.FirstSequence = seq
		b.Attributes |= compactAttrTransactional
		out := b.RecordBatch.AppendTo(nil)
		ChecksumBatch(out)
		return out
	}
	appendProducerBatches(t, l, txnBatch(5, 0, "a"))                  // aborted
	appendProducerBatches(t, l, txnBatch(5, 1, "b"))                  // aborted
	appendProducerBatches(t, l, txnBatch(6, 0, "c"))                  // committed
	appendProducerBatches(t, l, TxnMarkerBatch(5, 0, 1, false, 1000)) // abort 5
	appendProducerBatches(t, l, TxnMarkerBatch(6, 0, 1, true, 1000))  // commit 6
	for i := 0; i < 400; i++ {
		appendKeyed(t, l, 1000, keyedRecord{key: "k", value: "v"})
	}
	if _, ok := cleanOnce(t, l, 2000, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	var aborted, committed, markers, emptyOf5 int
	for _, raw := range readAllBatches(t, l, 1<<20) {
		b, err := ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case b.Attributes&compactAttrControl != 0:
			markers++
		case b.ProducerID == 5 && b.NumRecords > 0:
			aborted++
		case b.ProducerID == 5:
			emptyOf5++
		case b.ProducerID == 6:
			committed++
		}
	}
	if aborted != 0 || emptyOf5 != 0 || committed != 1 || markers != 2 {
		t.Fatalf("after compaction: %d aborted batches with records, %d empty of producer 5, %d committed, %d markers", aborted, emptyOf5, committed, markers)
	}
	// The producer state rebuilt from the compacted log agrees.
	if _, open := l.ProducerStates().FirstUnstableOffset(); open {
		t.Fatal("a transaction looks open after compaction")
	}
}

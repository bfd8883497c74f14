package logstore

import (
	"strings"
	"testing"

	"gregor/logstore/vfs"
)

// Compaction removes the records of aborted transactions and keeps committed
// transactional records and every marker (the producer's last batch, here
// its abort marker, is kept anyway). The aborted producer's last data batch
// stays as an empty batch, as Kafka keeps it: after a transaction.version 1
// marker its sequence is the producer's last, which a restarted replica
// rebuilds from the log (without it the producer's next batch would be out
// of order).
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
	if aborted != 0 || emptyOf5 != 1 || committed != 1 || markers != 2 {
		t.Fatalf("after compaction: %d aborted batches with records, %d empty of producer 5, %d committed, %d markers", aborted, emptyOf5, committed, markers)
	}
	// The producer state rebuilt from the compacted log agrees.
	if _, open := l.ProducerStates().FirstUnstableOffset(); open {
		t.Fatal("a transaction looks open after compaction")
	}
}

// An abort marker goes too once its transaction left nothing and
// delete.retention.ms passed, unless it is its producer's last batch; the
// abort stays in the aborted-transaction index, and the producer state
// rebuilt from the compacted log has no transaction open.
func TestCleanerRemovesOldAbortMarkers(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", cleanerConfig(), nil, 0)
	batch := func(pid int64, seq int32, txn bool, ts int64) []byte {
		return producerBatch(t, pid, seq, txn, ts, "t", "v")
	}
	appendProducerBatches(t, l, batch(5, 0, true, 1000))              // 0: aborted
	appendProducerBatches(t, l, TxnMarkerBatch(5, 0, 1, false, 1000)) // 1: old abort marker
	appendProducerBatches(t, l, batch(5, 1, false, 1000))             // 2: producer 5 goes on
	appendProducerBatches(t, l, batch(7, 0, true, 5000))              // 3: aborted
	appendProducerBatches(t, l, TxnMarkerBatch(7, 0, 1, false, 5000)) // 4: recent abort marker
	appendProducerBatches(t, l, batch(7, 1, false, 5000))             // 5
	for i := 0; i < 400; i++ {
		appendKeyed(t, l, 5000, keyedRecord{key: "k", value: "v"})
	}
	if _, ok := cleanOnce(t, l, 5500, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	var markers []int64
	for _, raw := range readAllBatches(t, l, 1<<20) {
		if b, _ := ParseBatch(raw); b.Attributes&compactAttrControl != 0 {
			markers = append(markers, b.FirstOffset)
		}
	}
	if len(markers) != 1 || markers[0] != 4 {
		t.Fatalf("markers left at %v, want [4]", markers)
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 2 {
		t.Fatalf("aborted transactions %+v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mem.ReadDir("/p")
	for _, name := range names {
		if strings.HasSuffix(name, producerSnapshotExt) {
			_ = mem.Remove("/p/" + name)
		}
	}
	l = openTestLog(t, mem, "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	if _, open := l.ProducerStates().FirstUnstableOffset(); open {
		t.Fatal("a transaction looks open in the compacted log")
	}
	if got := l.AbortedTransactions(0, 10); len(got) != 2 {
		t.Fatalf("aborted transactions after a restart %+v", got)
	}
}

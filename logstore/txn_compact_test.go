package logstore

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/vfs"
)

// producerBatch is a one-record batch of producer pid (epoch 0) at
// sequence seq, transactional when txn.
func producerBatch(t *testing.T, pid int64, seq int32, txn bool, ts int64, key, value string) []byte {
	t.Helper()
	raw, _ := keyedBatch(t, pid, ts, keyedRecord{key: key, value: value})
	b, err := ParseBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	b.FirstSequence = seq
	if txn {
		b.Attributes |= compactAttrTransactional
	}
	out := b.RecordBatch.AppendTo(nil)
	ChecksumBatch(out)
	return out
}

// appendAtEpoch7 appends raw at leader epoch 7, appendKeyed's.
func appendAtEpoch7(t *testing.T, l *Log, raw []byte) {
	t.Helper()
	if _, err := l.Append([][]byte{raw}, 7, 1000); err != nil {
		t.Fatal(err)
	}
}

// logContents reads l's data records (offset to key=value) and the offsets
// of its markers.
func logContents(t *testing.T, l *Log) (map[int64]string, []int64) {
	t.Helper()
	records := map[int64]string{}
	var markers []int64
	codecs := NewCodecs()
	for _, raw := range readAllBatches(t, l, 1<<20) {
		b, err := ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		if b.Attributes&compactAttrControl != 0 {
			markers = append(markers, b.FirstOffset)
			continue
		}
		if err := codecs.EachRecord(&b, func(off int64, r *kmsg.Record) {
			records[off] = string(r.Key) + "=" + string(r.Value)
		}); err != nil {
			t.Fatal(err)
		}
	}
	return records, markers
}

// Compaction compacts the records of committed transactions by key, as
// Kafka's cleaner does: a committed transactional record supersedes an
// older record of its key and is superseded by a newer one, while an
// aborted one supersedes nothing; a commit marker whose transaction left
// nothing goes once delete.retention.ms passed (unless it is its
// producer's last batch). Before, committed transactional records and
// commit markers stayed for ever, so a compacted topic written by
// transactions (Kafka Streams' changelogs under exactly-once,
// __consumer_offsets with TxnOffsetCommit) grew without bound, and a
// reader starting from its beginning fetched through all of it (swarm
// seed 75269 at 5 nodes and 5 minutes: the final read did not catch up).
func TestCleanerCompactsCommittedTransactionsByKey(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	appendKeyed(t, l, 1000, keyedRecord{key: "a", value: "v0"})          // 0
	appendKeyed(t, l, 1000, keyedRecord{key: "b", value: "v1"})          // 1
	appendAtEpoch7(t, l, producerBatch(t, 5, 0, true, 1000, "a", "t2"))  // 2: committed, then superseded
	appendAtEpoch7(t, l, producerBatch(t, 5, 1, true, 1000, "b", "t3"))  // 3: committed, b's latest
	appendAtEpoch7(t, l, TxnMarkerBatch(5, 0, 1, true, 1000))            // 4: commit 5
	appendAtEpoch7(t, l, producerBatch(t, 6, 0, true, 1000, "b", "x5"))  // 5: aborted
	appendAtEpoch7(t, l, TxnMarkerBatch(6, 0, 1, false, 1000))           // 6: abort 6
	appendAtEpoch7(t, l, producerBatch(t, 8, 0, true, 1000, "c", "t7"))  // 7: committed, superseded
	appendAtEpoch7(t, l, TxnMarkerBatch(8, 0, 1, true, 1000))            // 8: commit 8, left with nothing
	appendAtEpoch7(t, l, producerBatch(t, 8, 1, false, 1000, "c", "v9")) // 9: producer 8 goes on
	appendKeyed(t, l, 1000, keyedRecord{key: "a", value: "v10"})         // 10
	for i := 0; i < 400; i++ {
		appendKeyed(t, l, 1000, keyedRecord{key: "k", value: "v"})
	}
	if _, ok := cleanOnce(t, l, 5000, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	records, markers := logContents(t, l)
	got := map[int64]string{}
	for off, r := range records {
		if off <= 10 {
			got[off] = r
		}
	}
	want := map[int64]string{3: "b=t3", 9: "c=v9", 10: "a=v10"}
	if !maps.Equal(got, want) {
		t.Errorf("records up to offset 10 after compaction: %v, want %v", got, want)
	}
	// The commit marker of producer 5 stays (its record b stays, and it is
	// the producer's last batch), and so does producer 6's abort marker
	// (its last batch); producer 8's commit marker goes.
	if slices.Contains(markers, 8) || !slices.Contains(markers, 4) || !slices.Contains(markers, 6) {
		t.Errorf("markers left at %v, want 4 and 6", markers)
	}
	if _, open := l.ProducerStates().FirstUnstableOffset(); open {
		t.Fatal("a transaction looks open after compaction")
	}
}

// A transaction still open is not compacted, nor does it supersede an older
// record of its key: it may yet abort (PlanClean stops at the log's first
// unstable offset, whatever maxOffset it is given). Once aborted, the older
// record is still its key's latest.
func TestCleanerStopsAtAnOpenTransaction(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	appendKeyed(t, l, 1000, keyedRecord{key: "a", value: "v0"})         // 0
	appendAtEpoch7(t, l, producerBatch(t, 5, 0, true, 1000, "a", "t1")) // 1: open
	for i := 0; i < 400; i++ {
		appendKeyed(t, l, 1000, keyedRecord{key: "k", value: "v"})
	}
	cleanOnce(t, l, 5000, CleanerOptions{})
	if records, _ := logContents(t, l); records[0] != "a=v0" || records[1] != "a=t1" {
		t.Fatalf("with the transaction open, offsets 0 and 1 hold %q and %q", records[0], records[1])
	}
	appendAtEpoch7(t, l, TxnMarkerBatch(5, 0, 1, false, 1000))
	for i := 0; i < 400; i++ {
		appendKeyed(t, l, 1000, keyedRecord{key: "k", value: "v"})
	}
	if _, ok := cleanOnce(t, l, 5000, CleanerOptions{}); !ok {
		t.Fatal("no clean job once the transaction aborted")
	}
	if records, _ := logContents(t, l); records[0] != "a=v0" || records[1] != "" {
		t.Fatalf("after the abort, offsets 0 and 1 hold %q and %q", records[0], records[1])
	}
}

// A pass merges consecutive small segments into one even when it removes no
// record from them, as Kafka's cleaner rewrites every group: a log left in
// many small segments (each cleaned down on its own, or rolled small) costs
// a reader one fetch per segment.
func TestCleanerMergesSmallSegments(t *testing.T) {
	cfg := cleanerConfig()
	cfg.SegmentMs = 1
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	// 40 distinct keys, a segment each (segment.ms rolls every append).
	for i := 0; i < 40; i++ {
		appendKeyed(t, l, int64(1000+10*i), keyedRecord{key: fmt.Sprintf("k%d", i), value: "v"})
	}
	before, _ := logContents(t, l)
	if n := len(l.Segments()); n < 40 {
		t.Fatalf("%d segments before compaction", n)
	}
	if _, ok := cleanOnce(t, l, 5000, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	after, _ := logContents(t, l)
	if !maps.Equal(before, after) {
		t.Fatalf("compaction changed the records: %v, then %v", before, after)
	}
	if n := len(l.Segments()); n > 3 {
		t.Fatalf("%d segments after compaction, want the closed ones merged", n)
	}
}

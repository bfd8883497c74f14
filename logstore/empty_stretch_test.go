package logstore

import (
	"encoding/binary"
	"slices"
	"testing"

	"gregor/logstore/vfs"
)

// TestEmptyStretchRecordsParse: the empty batches parse, cover their
// ranges, hold no record and name no producer.
func TestEmptyStretchRecordsParse(t *testing.T) {
	recs := EmptyStretchRecords([]EpochRange{{10, 59, 3}, {60, 63, 5}})
	raw, err := recs.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if recs.FirstOffset != 10 || recs.NextOffset != 64 || recs.Len() != int64(len(raw)) {
		t.Fatalf("records [%d, %d) of %d bytes, read %d", recs.FirstOffset, recs.NextOffset, recs.Len(), len(raw))
	}
	want := []EpochRange{{10, 59, 3}, {60, 63, 5}}
	for i := 0; len(raw) > 0; i++ {
		size, err := BatchSize(raw)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseBatch(raw[:size])
		if err != nil {
			t.Fatal(err)
		}
		if got := (EpochRange{b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch}); got != want[i] || !IsEmptyStretchBatch(&b) || b.MaxTimestamp != -1 {
			t.Fatalf("batch %d is %+v (%d records, producer %d, max timestamp %d), want %+v", i, got, b.NumRecords, b.ProducerID, b.MaxTimestamp, want[i])
		}
		raw = raw[size:]
	}
}

// TestFollowerAppendsAnEmptyStretch: a follower's log takes the empty
// batches as any other, its end moves over them, its epoch cache starts each
// epoch where its range starts, and a reopened log ends there too.
func TestFollowerAppendsAnEmptyStretch(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", DefaultConfig(), nil, 0)
	first := simpleBatch(t, 10, 8, 1000, 1)
	SetBatchLeaderEpoch(first, 3)
	ChecksumBatch(first)
	if _, err := l.AppendAsFollower([][]byte{first}, 0); err != nil {
		t.Fatal(err)
	}
	raw, err := EmptyStretchRecords([]EpochRange{{10, 59, 3}, {60, 63, 5}}).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(splitBatches(t, raw), 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs := []EpochEntry{{Epoch: 3, StartOffset: 0}, {Epoch: 5, StartOffset: 60}}
	check := func(l *Log) {
		t.Helper()
		if l.LogEndOffset() != 64 || !slices.Equal(l.LeaderEpochs(), wantEpochs) {
			t.Fatalf("log end %d, epochs %v; want 64, %v", l.LogEndOffset(), l.LeaderEpochs(), wantEpochs)
		}
	}
	check(l)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", DefaultConfig(), nil, 0)
	defer l.Close()
	check(l)
}

// TestMayBeEmptyStretchBatch: the header check passes every empty stretch
// and turns away data batches, batches compaction kept for their producer
// (no record, a producer named) and anything shorter than a header, without
// reading past the header (a data batch with its records garbled is turned
// away all the same).
func TestMayBeEmptyStretchBatch(t *testing.T) {
	stretch := EmptyBatch(10, 59, 3)
	data := simpleBatch(t, 8, 1000, 1000, 1)
	garbled := slices.Clone(data)
	for i := BatchHeaderBytes; i < len(garbled); i++ {
		garbled[i] ^= 0xff
	}
	kept := EmptyBatch(10, 59, 3)
	binary.BigEndian.PutUint64(kept[batchProducerIDPos:], 7) // compaction keeps a producer's last batch
	ChecksumBatch(kept)
	for _, c := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"empty stretch", stretch, true},
		{"data batch", data, false},
		{"data batch, records garbled", garbled, false},
		{"empty batch of a producer", kept, false},
		{"short", stretch[:BatchHeaderBytes-1], false},
	} {
		if got := MayBeEmptyStretchBatch(c.p); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if b, err := ParseBatch(c.p); err == nil && IsEmptyStretchBatch(&b) && !MayBeEmptyStretchBatch(c.p) {
			t.Errorf("%s: an empty stretch the header check turns away", c.name)
		}
	}
}

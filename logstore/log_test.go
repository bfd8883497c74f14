package logstore

import (
	"bytes"
	"errors"
	"os"
	"path"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore/vfs"
)

// appendN appends n single-record batches of valueBytes and returns copies of
// the stored bytes (with offsets assigned).
func appendN(t *testing.T, l *Log, n, valueBytes int, tsMs int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		b := simpleBatch(t, 1+i%3, valueBytes, tsMs+int64(i), i)
		if _, err := l.Append([][]byte{b}, 7, tsMs+int64(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, b)
	}
	return out
}

func equalBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs: got %s want %s", i, batchDigest(got[i]), batchDigest(want[i]))
		}
	}
}

func smallConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.CacheBlockBytes = 4096
	return c
}

func TestAppendAssignsOffsetsAndReadsBack(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, smallConfig(), newMapCache(), 0)
	b1, b2 := simpleBatch(t, 3, 10, 100, 1), simpleBatch(t, 2, 10, 200, 2)
	res, err := l.Append([][]byte{b1, b2}, 5, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffsets[0] != 0 || res.BaseOffsets[1] != 3 || res.LogEndOffset != 5 {
		t.Fatalf("result %+v", res)
	}
	parsed, _ := ParseBatch(b2)
	if parsed.FirstOffset != 3 || parsed.PartitionLeaderEpoch != 5 {
		t.Fatalf("batch 2 header %+v", parsed.RecordBatch)
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), [][]byte{b1, b2})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReopenAfterCleanAndUncleanShutdown(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		l := openTestLog(t, vfs.OS, dir, smallConfig(), nil, 0)
		want := appendN(t, l, 300, 50, 1000)
		if len(l.Segments()) < 3 {
			t.Fatalf("expected several segments, got %d", len(l.Segments()))
		}
		leo := l.LogEndOffset()
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path.Join(dir, cleanShutdownFile)); err != nil {
				t.Fatalf("no clean shutdown marker: %v", err)
			}
		}
		l2 := openTestLog(t, vfs.OS, dir, smallConfig(), nil, 0)
		if l2.LogEndOffset() != leo {
			t.Fatalf("clean=%v: log end offset %d after reopen, want %d", clean, l2.LogEndOffset(), leo)
		}
		equalBatches(t, readAllBatches(t, l2, 1000), want)
		// The reopened log takes appends.
		more := appendN(t, l2, 10, 50, 5000)
		equalBatches(t, readAllBatches(t, l2, 1<<20), append(want, more...))
		if _, err := os.Stat(path.Join(dir, cleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("clean=%v: marker still present after open: %v", clean, err)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
		if !clean {
			_ = l.Close()
		}
	}
}

func TestReadSemantics(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	batches := [][]byte{simpleBatch(t, 5, 100, 0, 1), simpleBatch(t, 5, 100, 0, 2), simpleBatch(t, 5, 100, 0, 3)}
	if _, err := l.Append(batches, 0, 0); err != nil {
		t.Fatal(err)
	}
	read := func(offset, maxBytes, maxOffset int64) (*Records, [][]byte) {
		t.Helper()
		r, err := l.Read(offset, maxBytes, maxOffset)
		if err != nil {
			t.Fatalf("read(%d,%d,%d): %v", offset, maxBytes, maxOffset, err)
		}
		p, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r.Release()
		if len(p) == 0 {
			return r, nil
		}
		return r, splitBatches(t, p)
	}
	// The batch containing the offset comes first, whole.
	r, got := read(7, 1<<20, 15)
	equalBatches(t, got, batches[1:])
	if r.FirstOffset != 5 || r.NextOffset != 15 {
		t.Fatalf("offsets %d..%d", r.FirstOffset, r.NextOffset)
	}
	// A budget below one batch still returns one whole batch.
	_, got = read(0, 1, 15)
	equalBatches(t, got, batches[:1])
	// The budget is not exceeded after the first batch.
	_, got = read(0, int64(len(batches[0])+len(batches[1])+1), 15)
	equalBatches(t, got, batches[:2])
	// Never a batch reaching maxOffset (the high watermark).
	_, got = read(0, 1<<20, 10)
	equalBatches(t, got, batches[:2])
	_, got = read(0, 1<<20, 9)
	equalBatches(t, got, batches[:1])
	// At the log end offset: nothing.
	if r, got = read(15, 1<<20, 15); got != nil || r.Len() != 0 {
		t.Fatalf("read at the end returned %d batches", len(got))
	}
	for _, bad := range []int64{-1, 16} {
		if _, err := l.Read(bad, 100, 100); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("read at %d: %v, want OffsetOutOfRange", bad, err)
		}
	}
}

func TestAppendRejectsCorruptAndOversizedBatches(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	good := simpleBatch(t, 1, 10, 0, 1)
	bad := simpleBatch(t, 1, 10, 0, 2)
	bad[len(bad)-1] ^= 0xff
	_, err := l.Append([][]byte{good, bad}, 0, 0)
	if !errors.Is(err, kerr.CorruptMessage) || !errors.Is(err, ErrCorruption) {
		t.Fatalf("corrupt batch: %v", err)
	}
	huge := simpleBatch(t, 1, 5000, 0, 3)
	if _, err := l.Append([][]byte{huge}, 0, 0); !errors.Is(err, kerr.RecordListTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("failed appends moved the log end offset to %d", l.LogEndOffset())
	}
}

// TestAppendValidatedSkipsOnlyTheCRC: AppendValidated stores what Append
// stores, refuses what a header says is wrong (length, magic, offset delta,
// segment.bytes) as Append does, and takes a batch whose records changed
// after ParseBatch (the CRC is the caller's check); a follower append still
// checks it.
func TestAppendValidatedSkipsOnlyTheCRC(t *testing.T) {
	a := openTestLog(t, vfs.NewMem(), "/a", smallConfig(), newMapCache(), 0)
	defer a.Close()
	v := openTestLog(t, vfs.NewMem(), "/v", smallConfig(), newMapCache(), 0)
	defer v.Close()
	for i := range 20 {
		b1, b2 := simpleBatch(t, 1+i%3, 50, int64(i), i), simpleBatch(t, 2, 30, int64(i), -i)
		ra, err := a.Append([][]byte{b1, b2}, 3, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		c1, c2 := simpleBatch(t, 1+i%3, 50, int64(i), i), simpleBatch(t, 2, 30, int64(i), -i)
		rv, err := v.AppendValidated([][]byte{c1, c2}, 3, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		if ra.LogEndOffset != rv.LogEndOffset || ra.BaseOffsets[1] != rv.BaseOffsets[1] {
			t.Fatalf("append %d: Append gave %+v, AppendValidated %+v", i, ra, rv)
		}
	}
	equalBatches(t, readAllBatches(t, v, 1<<20), readAllBatches(t, a, 1<<20))

	damage := map[string]func([]byte) []byte{
		"length field":      func(b []byte) []byte { b[batchLengthPos+3]++; return b },
		"short":             func(b []byte) []byte { return b[:BatchHeaderBytes-1] },
		"magic":             func(b []byte) []byte { b[batchMagicPos] = 1; return b },
		"last offset delta": func(b []byte) []byte { b[batchLastOffsetDeltaPos] = 0x80; return b },
	}
	for name, damage := range damage {
		end := v.LogEndOffset()
		if _, err := v.AppendValidated([][]byte{damage(simpleBatch(t, 1, 10, 0, 9))}, 3, 0); !errors.Is(err, kerr.CorruptMessage) {
			t.Errorf("%s damaged: %v, want CorruptMessage", name, err)
		}
		if v.LogEndOffset() != end {
			t.Fatalf("%s damaged: the refused append moved the log end offset", name)
		}
	}
	if _, err := v.AppendValidated([][]byte{simpleBatch(t, 1, 5000, 0, 3)}, 3, 0); !errors.Is(err, kerr.RecordListTooLarge) {
		t.Fatalf("oversized batch: %v", err)
	}

	records := simpleBatch(t, 1, 10, 0, 4)
	records[len(records)-1] ^= 0xff // after the caller's ParseBatch
	if _, err := v.AppendValidated([][]byte{records}, 3, 0); err != nil {
		t.Fatalf("AppendValidated computed the CRC: %v", err)
	}
	follower := simpleBatch(t, 1, 10, 0, 5)
	SetBatchBaseOffset(follower, v.LogEndOffset())
	follower[len(follower)-1] ^= 0xff
	if _, err := v.AppendAsFollower([][]byte{follower}, 0); !errors.Is(err, ErrCorruption) {
		t.Fatalf("follower append of a batch with a bad CRC: %v", err)
	}
}

func TestAppendAsFollower(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	b := simpleBatch(t, 2, 10, 0, 1)
	SetBatchBaseOffset(b, 10)
	if _, err := l.AppendAsFollower([][]byte{b}, 0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 12 {
		t.Fatalf("log end offset %d", l.LogEndOffset())
	}
	b2 := simpleBatch(t, 1, 10, 0, 2)
	SetBatchBaseOffset(b2, 11)
	if _, err := l.AppendAsFollower([][]byte{b2}, 0); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("overlapping follower append: %v", err)
	}
}

func TestTruncate(t *testing.T) {
	fsys := vfs.NewMem()
	l := openTestLog(t, fsys, "/p", smallConfig(), newMapCache(), 0)
	want := appendN(t, l, 200, 40, 0)
	// Find a batch of several records and truncate inside it.
	var cut int64 = -1
	var keep int
	for i, b := range want {
		p, _ := ParseBatch(b)
		if p.LastOffsetDelta > 0 && p.FirstOffset > 150 {
			cut, keep = p.FirstOffset+1, i
			break
		}
	}
	if err := l.Truncate(cut, 0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != cut-1 {
		t.Fatalf("log end offset %d after truncating inside the batch at %d", l.LogEndOffset(), cut-1)
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), want[:keep])
	more := appendN(t, l, 5, 40, 0)
	want = append(want[:keep], more...)
	equalBatches(t, readAllBatches(t, l, 300), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, fsys, "/p", smallConfig(), newMapCache(), 0)
	defer l.Close()
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	// Truncating at or below the log start restarts the log there.
	if err := l.Truncate(0, 0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 || len(l.Segments()) != 1 {
		t.Fatalf("after full truncation: %d..%d, %d segments", l.LogStartOffset(), l.LogEndOffset(), len(l.Segments()))
	}
}

// allCommitted is a high watermark past every test log's end: retention
// may delete any segment its policy lets it.
const allCommitted = 1 << 62

// TestRetentionStopsAtTheHighWatermark checks retention deletes only
// segments wholly below the high watermark, as Kafka's deletableSegments:
// records timestamped long ago, past retention.ms as soon as they are
// written, stay until they commit, and the log start offset never passes
// the high watermark.
func TestRetentionStopsAtTheHighWatermark(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = 1000
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	appendN(t, l, 300, 40, 1000)
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	// The high watermark inside the third segment: the first two go.
	hw := segs[2].BaseOffset + 1
	if n, err := l.DeleteRetainedSegments(1_000_000, hw); err != nil || n != 2 {
		t.Fatalf("deleted %d segments below the high watermark %d: %v", n, hw, err)
	}
	if start := l.LogStartOffset(); start != segs[2].BaseOffset || start > hw {
		t.Fatalf("log start %d, high watermark %d", start, hw)
	}
	// At a segment's end the segment goes too.
	if n, err := l.DeleteRetainedSegments(1_000_000, segs[3].BaseOffset); err != nil || n != 1 {
		t.Fatalf("deleted %d segments: %v", n, err)
	}
	if n, err := l.DeleteRetainedSegments(1_000_000, 0); err != nil || n != 0 {
		t.Fatalf("deleted %d segments above a high watermark of 0: %v", n, err)
	}
}

func TestRetentionAndLogStartOffset(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 8192
	fsys := vfs.NewMem()
	l := openTestLog(t, fsys, "/p", cfg, nil, 0)
	want := appendN(t, l, 300, 40, 1000)
	n, err := l.DeleteRetainedSegments(1000, allCommitted)
	if err != nil || n == 0 {
		t.Fatalf("retention.bytes deleted %d segments: %v", n, err)
	}
	if size := l.SizeBytes(); size < cfg.RetentionBytes || size > cfg.RetentionBytes+2*cfg.SegmentBytes {
		t.Fatalf("size after retention %d", size)
	}
	start := l.LogStartOffset()
	if start != l.Segments()[0].BaseOffset {
		t.Fatalf("log start %d, first segment %d", start, l.Segments()[0].BaseOffset)
	}
	if _, err := l.Read(start-1, 100, l.LogEndOffset()); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("read below log start: %v", err)
	}
	var kept [][]byte
	for _, b := range want {
		if p, _ := ParseBatch(b); p.FirstOffset >= start {
			kept = append(kept, b)
		}
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), kept)

	// retention.ms: everything but the active segment is older than a day.
	cfg2 := smallConfig()
	cfg2.RetentionMs = 1000
	l2 := openTestLog(t, vfs.NewMem(), "/q", cfg2, nil, 0)
	appendN(t, l2, 300, 40, 1000)
	if n, err := l2.DeleteRetainedSegments(1300, allCommitted); err != nil || n != 0 {
		t.Fatalf("nothing is old yet, deleted %d: %v", n, err)
	}
	segs := len(l2.Segments())
	if n, err := l2.DeleteRetainedSegments(1_000_000, allCommitted); err != nil || n != segs-1 {
		t.Fatalf("deleted %d of %d segments: %v", n, segs, err)
	}
	if l2.LogStartOffset() != l2.Segments()[0].BaseOffset {
		t.Fatal("log start offset did not advance")
	}

	// DeleteRecords.
	target := l.LogEndOffset() - 3
	if err := l.AdvanceLogStartOffset(target); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != target || len(l.Segments()) != 1 {
		t.Fatalf("log start %d, %d segments", l.LogStartOffset(), len(l.Segments()))
	}
	if err := l.AdvanceLogStartOffset(l.LogEndOffset() + 1); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("advance past the end: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, fsys, "/p", cfg, nil, 0)
	defer l.Close()
	if l.LogStartOffset() != target {
		t.Fatalf("log start offset %d after reopen, want %d", l.LogStartOffset(), target)
	}
}

func TestReaderOutlivesSegmentDeletion(t *testing.T) {
	for _, name := range []string{"os", "mem"} {
		var fsys vfs.FS = vfs.NewMem()
		dir := "/p"
		if name == "os" {
			fsys, dir = vfs.OS, t.TempDir()
		}
		cfg := smallConfig()
		cfg.RetentionBytes = 0
		l := openTestLog(t, fsys, dir, cfg, nil, 0)
		want := appendN(t, l, 100, 40, 0)
		recs, err := l.Read(0, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if n, err := l.DeleteRetainedSegments(0, allCommitted); err != nil || n == 0 {
			t.Fatalf("%s: deleted %d: %v", name, n, err)
		}
		var buf bytes.Buffer
		if _, err := recs.WriteTo(&buf); err != nil {
			t.Fatalf("%s: read of a deleted segment: %v", name, err)
		}
		got := splitBatches(t, buf.Bytes())
		equalBatches(t, got, want[:len(got)])
		recs.Release()
		names, _ := fsys.ReadDir(dir)
		for _, n := range names {
			if path.Ext(n) == deletedFileExt {
				t.Fatalf("%s: %s left behind after release", name, n)
			}
		}
		_ = l.Close()
	}
}

func TestAppendFailsCleanlyWhenDiskIsFull(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), newMapCache(), 0)
	want := appendN(t, l, 20, 40, 0)
	mem.SetSpaceLimit(mem.UsedBytes() + 150)
	var failures int
	for i := range 50 {
		b := simpleBatch(t, 1, 40, 0, 1000+i)
		_, err := l.Append([][]byte{b}, 7, 0)
		if err == nil {
			want = append(want, b)
			continue
		}
		failures++
		if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("append on a full disk: %v", err)
		}
	}
	if failures == 0 {
		t.Fatal("the space limit never hit")
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	mem.SetSpaceLimit(-1)
	want = append(want, appendN(t, l, 200, 40, 0)...)
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
}

func TestFlushPolicies(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMessages = 1
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	appendN(t, l, 5, 10, 0)
	if l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("flush.messages=1: flushed %d of %d", l.FlushedOffset(), l.LogEndOffset())
	}
	_ = l.Close()

	cfg = smallConfig()
	cfg.FlushMs = 100
	l = openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	appendN(t, l, 5, 10, 0)
	if err := l.Tick(50); err != nil || l.FlushedOffset() != 0 {
		t.Fatalf("flushed %d before flush.ms: %v", l.FlushedOffset(), err)
	}
	if err := l.Tick(100); err != nil || l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("flushed %d of %d after flush.ms: %v", l.FlushedOffset(), l.LogEndOffset(), err)
	}
}

func TestSegmentMsRolls(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentMs = 1000
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	for i := range 5 {
		if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, i)}, 0, int64(i)*600); err != nil {
			t.Fatal(err)
		}
	}
	// Created at 0: rolls at 1200 (>= 1000 after 0) and again at 2400.
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	// Non-monotonic timestamps, compressed and not.
	batches := []struct {
		codec int8
		ts    []int64
	}{
		{0, []int64{10, 30, 20}}, {2, []int64{25, 5, 40}}, {4, []int64{35, 50}}, {0, []int64{45}}, {1, []int64{60, 55}},
	}
	var all []TimestampOffset
	for _, b := range batches {
		var recs []recordSpec
		for _, ts := range b.ts {
			recs = append(recs, recordSpec{timestampMs: ts, value: []byte("v")})
		}
		res, err := l.Append([][]byte{makeBatch(t, b.codec, recs)}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, ts := range b.ts {
			all = append(all, TimestampOffset{Offset: res.BaseOffsets[0] + int64(i), TimestampMs: ts})
		}
	}
	for target := int64(0); target <= 65; target++ {
		var want TimestampOffset
		wantFound := false
		for _, r := range all {
			if r.TimestampMs >= target {
				want, wantFound = r, true
				break
			}
		}
		got, found, err := l.OffsetForTimestamp(target)
		if err != nil || found != wantFound || got != want {
			t.Fatalf("target %d: got %+v %v %v, want %+v %v", target, got, found, err, want, wantFound)
		}
	}
	got, found, err := l.OffsetOfMaxTimestamp()
	if err != nil || !found || got != (TimestampOffset{Offset: 9, TimestampMs: 60}) {
		t.Fatalf("max timestamp: %+v %v %v", got, found, err)
	}
}

func TestCacheServesTailAndReadBlocks(t *testing.T) {
	cache := newMapCache()
	cfg := smallConfig()
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, cache, 0)
	defer l.Close()
	readAtEnd(t, l) // a caught-up reader: the tail is kept
	want := appendN(t, l, 200, 40, 0)
	if cache.len() == 0 {
		t.Fatal("appends cached no full blocks")
	}
	hits := cache.hits
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	if cache.hits == hits {
		t.Fatal("reads never hit the cache")
	}
	// Reads of evicted blocks fill the cache again.
	cache.evictAll()
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	if cache.len() == 0 {
		t.Fatal("reads from disk cached nothing")
	}
}

// readAtEnd reads at the log end offset, as a caught-up consumer does.
func readAtEnd(t *testing.T, l *Log) {
	t.Helper()
	recs, err := l.Read(l.LogEndOffset(), 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	recs.Release()
}

// TestFollowerGapsSurviveRollsAndRecovery appends a follower's batches with
// offset gaps (a compacted leader) across segment rolls: segments still meet
// at the log end offset, reads in a gap return the next batch, and an unclean
// reopen keeps everything.
func TestFollowerGapsSurviveRollsAndRecovery(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	var want [][]byte
	next := int64(0)
	for i := range 120 {
		b := simpleBatch(t, 1, 60, int64(i), i)
		next += int64(i % 4) // a gap of 0..3 offsets
		SetBatchBaseOffset(b, next)
		if _, err := l.AppendAsFollower([][]byte{b}, 0); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		next++
	}
	segs := l.Segments()
	for i := 1; i < len(segs); i++ {
		if segs[i].BaseOffset != segs[i-1].NextOffset {
			t.Fatalf("segment %d starts at %d, previous ends at %d", i, segs[i].BaseOffset, segs[i-1].NextOffset)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0) // unclean: no Close
	defer l.Close()
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	for i := 1; i < len(want); i++ {
		prev, _ := ParseBatch(want[i-1])
		cur, _ := ParseBatch(want[i])
		if cur.FirstOffset == prev.NextOffset() {
			continue
		}
		recs, err := l.Read(prev.NextOffset(), 1, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if recs.FirstOffset != cur.FirstOffset {
			t.Fatalf("read in the gap at %d started at %d, want %d", prev.NextOffset(), recs.FirstOffset, cur.FirstOffset)
		}
		recs.Release()
	}
}

// TestTimestampLookupsPassEmptiedBatches checks lookups by timestamp over a
// batch compaction emptied, which keeps the max timestamp of the records
// it no longer holds: -3 answers the largest timestamp left (before or
// after the emptied batch), not no record; a lookup past every record left
// finds none.
func TestTimestampLookupsPassEmptiedBatches(t *testing.T) {
	for _, c := range []struct {
		first, last int64
		want        TimestampOffset
	}{{10, 30, TimestampOffset{Offset: 2, TimestampMs: 30}}, {40, 30, TimestampOffset{Offset: 0, TimestampMs: 40}}} {
		cfg := smallConfig()
		cfg.SegmentBytes = 1 << 20 // one segment: its recorded maximum is the emptied batch's
		l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
		emptied, err := ParseBatch(makeBatch(t, 0, []recordSpec{{timestampMs: 90, value: []byte("gone")}}))
		if err != nil {
			t.Fatal(err)
		}
		// A large first batch, so that the offset index has an entry at the
		// emptied batch and a scan from it starts past the first.
		batches := [][]byte{makeBatch(t, 0, []recordSpec{{timestampMs: c.first, value: make([]byte, 64<<10)}}), emptyBatch(&emptied),
			makeBatch(t, 0, []recordSpec{{timestampMs: c.last, value: []byte("c")}})}
		for _, b := range batches {
			if _, err := l.Append([][]byte{b}, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		got, found, err := l.OffsetOfMaxTimestamp()
		if err != nil || !found || got != c.want {
			t.Fatalf("records at %d and %d: max timestamp %+v %v %v, want %+v", c.first, c.last, got, found, err, c.want)
		}
		if got, found, err := l.OffsetForTimestamp(50); err != nil || found {
			t.Fatalf("lookup past every record left: %+v %v %v", got, found, err)
		}
		if n := len(l.Segments()); n != 1 {
			t.Fatalf("%d segments", n)
		}
		l.Close()
	}
}

// TestRetentionWaitsForAFutureTimestamp checks time retention as Kafka's:
// a segment goes once its largest timestamp is retention.ms old, so a
// record timestamped in the future keeps its segment, and the segments
// after it (retention deletes a prefix), until that time has passed.
func TestRetentionWaitsForAFutureTimestamp(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = 1000
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	appendN(t, l, 100, 40, 1000)
	const future = 10_000_000
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 40, future, 0)}, 7, 2000); err != nil {
		t.Fatal(err)
	}
	before := len(l.Segments())
	appendN(t, l, 300, 40, 3000)
	segs := l.Segments()
	var held int
	for i, s := range segs {
		if s.MaxTimestampMs >= future {
			held = i
		}
	}
	if held == 0 || held < before-1 || held >= len(segs)-2 {
		t.Fatalf("the future record is in segment %d of %d", held, len(segs))
	}
	if n, err := l.DeleteRetainedSegments(future, allCommitted); err != nil || n != held {
		t.Fatalf("deleted %d segments while segment %d holds a record of the future: %v", n, held, err)
	}
	if n, err := l.DeleteRetainedSegments(future+1001, allCommitted); err != nil || n != len(segs)-1-held {
		t.Fatalf("deleted %d segments once the future passed, want %d: %v", n, len(segs)-1-held, err)
	}
}

// A checkpoint the disk fails to read (EIO) fails Open, whichever it is,
// rather than loading the log as if it were missing; once the disk reads
// again, Open loads the log whole.
func TestOpenFailsOnUnreadableCheckpoint(t *testing.T) {
	fsys := vfs.NewMem()
	l := openTestLog(t, fsys, "/p", smallConfig(), newMapCache(), 0)
	appendN(t, l, 200, 40, 0)
	if err := l.AdvanceLogStartOffset(10); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{recoveryPointCheckpointFile, logStartOffsetCheckpointFile, "leader-epoch-checkpoint"} {
		fsys.SetErrorHook(func(op vfs.Op, p string) error {
			if path.Base(p) == name && (op == vfs.OpOpen || op == vfs.OpReadAt) {
				return &os.PathError{Op: string(op), Path: p, Err: syscall.EIO}
			}
			return nil
		})
		if l, err := Open(Options{FS: fsys, Dir: "/p", Config: smallConfig(), Cache: newMapCache()}); err == nil || !errors.Is(err, syscall.EIO) {
			if l != nil {
				_ = l.Close()
			}
			t.Fatalf("%s unreadable: Open gave %v, want EIO", name, err)
		}
		fsys.SetErrorHook(nil)
	}
	l, err := Open(Options{FS: fsys, Dir: "/p", Config: smallConfig(), Cache: newMapCache()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.LogEndOffset() != end || l.LogStartOffset() != 10 {
		t.Fatalf("reopened at [%d, %d), want [10, %d)", l.LogStartOffset(), l.LogEndOffset(), end)
	}
}

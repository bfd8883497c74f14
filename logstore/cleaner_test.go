package logstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"strings"
	"sync"
	"testing"

	"gregor/logstore/vfs"
)

// fillKeyed appends n batches of two records each, keys drawn from keys
// distinct values, with timestamps from tsMs.
func fillKeyed(t testingT, l *Log, n, keys int, tsMs int64, tag string) []consumedRecord {
	t.Helper()
	var out []consumedRecord
	pad := strings.Repeat("x", 60)
	for i := range n {
		recs := []keyedRecord{
			{key: fmt.Sprintf("k%d", i%keys), value: fmt.Sprintf("%s%d-a%s", tag, i, pad)},
			{key: fmt.Sprintf("k%d", (i*3+1)%keys), value: fmt.Sprintf("%s%d-b%s", tag, i, pad)},
		}
		if i%10 == 0 {
			recs = append(recs, keyedRecord{value: "no key"})
		}
		out = append(out, appendKeyed(t, l, tsMs+int64(i), recs...)...)
	}
	return out
}

func TestCleanerKeepsLatestValuePerKey(t *testing.T) {
	mem := vfs.NewMem()
	cfg := cleanerConfig()
	l := openTestLog(t, mem, "/p", cfg, newMapCache(), 0)
	all := fillKeyed(t, l, 150, 25, 0, "v")
	segs := l.Segments()
	active := segs[len(segs)-1]
	activeBefore := recordsFrom(t, l, active.BaseOffset)
	startBefore, endBefore := l.LogStartOffset(), l.LogEndOffset()

	stats, ok := cleanOnce(t, l, 100, CleanerOptions{})
	if !ok {
		t.Fatal("no clean job for a log of duplicates")
	}
	if stats.CleanedUpToOffset != active.BaseOffset || l.CleanerCheckpoint() != active.BaseOffset {
		t.Fatalf("cleaned up to %d, checkpoint %d, want the active segment's base %d",
			stats.CleanedUpToOffset, l.CleanerCheckpoint(), active.BaseOffset)
	}
	want := expectedAfterClean(all, active.BaseOffset, 100, cfg.DeleteRetentionMs)
	got := readAllRecords(t, l)
	if !sameRecords(got, want) {
		t.Fatalf("after cleaning:\n got %s\nwant %s", describeRecords(got), describeRecords(want))
	}
	if removed := int64(len(all) - len(want)); stats.RecordsRemoved != removed || removed < int64(len(all))/2 {
		t.Fatalf("stats say %d records removed, the model %d of %d", stats.RecordsRemoved, removed, len(all))
	}
	if stats.SegmentsReplaced != len(segs)-1 || stats.BytesRead == 0 || stats.BytesWritten == 0 {
		t.Fatalf("stats %+v for %d closed segments", stats, len(segs)-1)
	}
	if !maps.Equal(latestValues(got), latestValues(all)) {
		t.Fatal("a key's latest value changed")
	}
	if l.LogStartOffset() != startBefore || l.LogEndOffset() != endBefore {
		t.Fatalf("offsets %d..%d after cleaning, were %d..%d", l.LogStartOffset(), l.LogEndOffset(), startBefore, endBefore)
	}
	if after := recordsFrom(t, l, active.BaseOffset); !sameRecords(after, activeBefore) {
		t.Fatal("the active segment changed")
	}
	checkReadsFromEveryOffset(t, l, want)
	if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
		t.Fatalf("left behind %v", left)
	}

	// A second pass merges the small cleaned segments.
	all = append(got, fillKeyed(t, l, 80, 25, 200, "w")...)
	closedBefore := len(l.Segments()) - 1
	segs = l.Segments()
	stats, ok = cleanOnce(t, l, 300, CleanerOptions{})
	if !ok {
		t.Fatal("no second clean job")
	}
	want = expectedAfterClean(all, segs[len(segs)-1].BaseOffset, 300, cfg.DeleteRetentionMs)
	if got := readAllRecords(t, l); !sameRecords(got, want) {
		t.Fatalf("after the second pass:\n got %s\nwant %s", describeRecords(got), describeRecords(want))
	}
	if closed := len(l.Segments()) - 1; closed >= closedBefore {
		t.Fatalf("%d closed segments after the second pass, %d before: groups did not merge", closed, closedBefore)
	}
	checkReadsFromEveryOffset(t, l, want)

	// Reopening, cleanly or not, keeps the content and the checkpoint.
	checkpoint := l.CleanerCheckpoint()
	for _, clean := range []bool{true, false} {
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		l = openTestLog(t, mem, "/p", cfg, nil, 0)
		if got := readAllRecords(t, l); !sameRecords(got, want) {
			t.Fatalf("after reopening (clean %v) the log differs", clean)
		}
		if l.CleanerCheckpoint() != checkpoint {
			t.Fatalf("cleaner checkpoint %d after reopening, was %d", l.CleanerCheckpoint(), checkpoint)
		}
	}
	if _, ok := l.PlanClean(300, l.LogEndOffset()); ok {
		t.Fatal("a clean job right after a full pass")
	}
	_ = l.Close()
}

// checkReadsFromEveryOffset checks that reading from each offset returns the
// batch holding it or the next one, and from there exactly want.
func checkReadsFromEveryOffset(t *testing.T, l *Log, want []consumedRecord) {
	t.Helper()
	for offset := l.LogStartOffset(); offset < l.LogEndOffset(); offset += 3 {
		var tail []consumedRecord
		for _, r := range want {
			if r.Offset >= offset {
				tail = append(tail, r)
			}
		}
		if got := recordsFrom(t, l, offset); !sameRecords(got, tail) {
			t.Fatalf("reading from %d:\n got %s\nwant %s", offset, describeRecords(got), describeRecords(tail))
		}
	}
}

func TestCleanerTombstonesLastDeleteRetentionMs(t *testing.T) {
	cfg := cleanerConfig()
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 1000
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	appendKeyed(t, l, 0, keyedRecord{key: "gone", value: "v1"}, keyedRecord{key: "back", value: "v1"})
	fillKeyed(t, l, 40, 5, 10, "f")
	appendKeyed(t, l, 100, keyedRecord{key: "gone", tombstone: true}, keyedRecord{key: "back", tombstone: true})
	appendKeyed(t, l, 101, keyedRecord{key: "back", value: "v2"})
	fillKeyed(t, l, 40, 5, 200, "g")

	// Young: the tombstone of "gone" stays, its value goes; "back"'s
	// tombstone is not its latest record and goes at once.
	if _, ok := cleanOnce(t, l, 500, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	got := readAllRecords(t, l)
	if !hasRecord(got, "gone", nil) || hasRecord(got, "gone", []byte("v1")) || hasRecord(got, "back", nil) || !hasRecord(got, "back", []byte("v2")) {
		t.Fatalf("after a young pass: %s", describeRecords(got))
	}
	if _, ok := latestValues(got)["gone"]; ok {
		t.Fatal("a deleted key has a value")
	}
	// Old (100 + 1000 <= 1100): the tombstone goes too, once a pass sees it.
	fillKeyed(t, l, 40, 5, 300, "h")
	if _, ok := cleanOnce(t, l, 1099, CleanerOptions{}); !ok {
		t.Fatal("no second clean job")
	}
	if !hasRecord(readAllRecords(t, l), "gone", nil) {
		t.Fatal("tombstone removed before delete.retention.ms")
	}
	fillKeyed(t, l, 40, 5, 400, "i")
	if _, ok := cleanOnce(t, l, 1100, CleanerOptions{}); !ok {
		t.Fatal("no third clean job")
	}
	got = readAllRecords(t, l)
	if hasRecord(got, "gone", nil) || hasRecord(got, "gone", []byte("v1")) || !hasRecord(got, "back", []byte("v2")) {
		t.Fatalf("after delete.retention.ms: %s", describeRecords(got))
	}
}

// hasRecord says whether recs hold key with value (nil: a tombstone).
func hasRecord(recs []consumedRecord, key string, value []byte) bool {
	for _, r := range recs {
		if string(r.Key) == key && sameNullableBytes(r.Value, value) {
			return true
		}
	}
	return false
}

func TestCleanerHonoursDirtyRatioPolicyAndLags(t *testing.T) {
	cfg := cleanerConfig()
	cfg.CleanupPolicyCompact, cfg.CleanupPolicyDelete = false, true
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	// Unique keys: cleaning removes nothing, so the clean part keeps its size.
	unique := 0
	appendUnique := func(n int, tsMs int64) {
		for range n {
			appendKeyed(t, l, tsMs, keyedRecord{key: fmt.Sprintf("u%d", unique), value: strings.Repeat("y", 100)})
			unique++
		}
	}
	appendUnique(150, 1000)
	if _, ok := l.PlanClean(2000, l.LogEndOffset()); ok {
		t.Fatal("a clean job under cleanup.policy=delete")
	}
	cfg.CleanupPolicyCompact, cfg.CleanupPolicyDelete = true, false
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	// maxOffset (the high watermark) bounds the cleanable part.
	segs := l.Segments()
	j, ok := l.PlanClean(2000, segs[2].BaseOffset)
	if !ok || len(j.sources) != 2 {
		t.Fatalf("plan below the second segment's end: %v", ok)
	}
	j.Abandon()
	if s, ok := cleanOnce(t, l, 2000, CleanerOptions{}); !ok || s.RecordsRemoved != 0 || s.SegmentsReplaced != 0 {
		t.Fatalf("first pass: %v %+v", ok, s)
	}
	closed := len(l.Segments()) - 1
	// One more closed segment is far below a dirty ratio of 0.5.
	for len(l.Segments())-1 == closed {
		appendUnique(1, 3000)
	}
	if r := l.CleanableDirtyRatio(4000, l.LogEndOffset()); r <= 0 || r >= 0.5 {
		t.Fatalf("dirty ratio %v", r)
	}
	if _, ok := l.PlanClean(4000, l.LogEndOffset()); ok {
		t.Fatal("a clean job below min.cleanable.dirty.ratio")
	}
	// max.compaction.lag.ms forces it once the first dirty batch (the
	// first of the segment that was active during the pass) is old.
	cfg.MaxCompactionLagMs = 5000
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.PlanClean(1000+5000, l.LogEndOffset()); ok {
		t.Fatal("forced before max.compaction.lag.ms")
	}
	j, ok = l.PlanClean(1000+5001, l.LogEndOffset())
	if !ok || !j.Stats().ForcedByMaxCompactionLag {
		t.Fatalf("not forced after max.compaction.lag.ms: %v", ok)
	}
	j.Abandon()
	cfg.MaxCompactionLagMs = 1 << 62
	// min.compaction.lag.ms holds back segments younger than it.
	for r := 0.0; r < 0.6; r = l.CleanableDirtyRatio(4000, l.LogEndOffset()) {
		appendUnique(10, 3000)
	}
	cfg.MinCompactionLagMs = 2000
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.PlanClean(4999, l.LogEndOffset()); ok {
		t.Fatal("cleaned segments younger than min.compaction.lag.ms")
	}
	if _, ok := cleanOnce(t, l, 5010, CleanerOptions{}); !ok {
		t.Fatal("no job once min.compaction.lag.ms passed")
	}
}

func TestRetentionRespectsCleanupPolicy(t *testing.T) {
	for _, c := range []struct {
		policy  string
		deletes bool
	}{{"compact", false}, {"compact,delete", true}, {"delete", true}} {
		cfg := cleanerConfig()
		if err := cfg.SetCleanupPolicy(c.policy); err != nil {
			t.Fatal(err)
		}
		cfg.RetentionMs = 1000
		l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
		fillKeyed(t, l, 150, 9, 0, "v")
		n, err := l.DeleteRetainedSegments(1_000_000, allCommitted)
		if err != nil || (n > 0) != c.deletes {
			t.Fatalf("%s: retention.ms deleted %d segments: %v", c.policy, n, err)
		}
		cfg.RetentionMs, cfg.RetentionBytes = -1, 1
		if err := l.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		fillKeyed(t, l, 100, 9, 0, "w")
		if n, err := l.DeleteRetainedSegments(0, allCommitted); err != nil || (n > 0) != c.deletes {
			t.Fatalf("%s: retention.bytes deleted %d segments: %v", c.policy, n, err)
		}
		// DeleteRecords deletes whatever the policy.
		fillKeyed(t, l, 100, 9, 0, "x")
		target := l.Segments()[2].BaseOffset
		if err := l.AdvanceLogStartOffset(target); err != nil || l.Segments()[0].BaseOffset != target {
			t.Fatalf("%s: DeleteRecords to %d: %v", c.policy, target, err)
		}
		if c.policy == "compact,delete" {
			// Both apply: a pass cleans what retention left.
			if _, ok := cleanOnce(t, l, 0, CleanerOptions{}); !ok {
				t.Fatal("no clean job under compact,delete")
			}
		}
		_ = l.Close()
	}
}

func TestCleanerKeepsLastBatchOfIdempotentProducer(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	appendRaw := func(producerID int64, recs ...keyedRecord) int64 {
		raw, _ := keyedBatch(t, producerID, 5, recs...)
		res, err := l.Append([][]byte{raw}, 0, 5)
		if err != nil {
			t.Fatal(err)
		}
		return res.BaseOffsets[0]
	}
	appendRaw(7, keyedRecord{key: "a", value: "1"})
	last := appendRaw(7, keyedRecord{key: "a", value: "2"}, keyedRecord{key: "b", value: "2"})
	appendRaw(-1, keyedRecord{key: "a", value: "3"}, keyedRecord{key: "b", value: "3"})
	fillKeyed(t, l, 60, 5, 10, "f")
	if _, ok := cleanOnce(t, l, 100, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	var kept []Batch
	for _, raw := range readAllBatches(t, l, 1<<20) {
		if b, _ := ParseBatch(raw); b.ProducerID == 7 {
			kept = append(kept, b)
		}
	}
	if len(kept) != 1 || kept[0].FirstOffset != last || kept[0].NumRecords != 0 || kept[0].LastOffsetDelta != 1 {
		t.Fatalf("producer 7 has %d batches left (%+v), want its last, empty, at %d", len(kept), kept, last)
	}
}

func TestCommitCleanSkipsSegmentsChangedDuringRun(t *testing.T) {
	t.Run("retention deleted whole groups", func(t *testing.T) {
		cfg := cleanerConfig()
		cfg.CleanupPolicyDelete = true
		l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
		defer l.Close()
		all := fillKeyed(t, l, 150, 9, 0, "v")
		j, ok := l.PlanClean(100, l.LogEndOffset())
		if !ok {
			t.Fatal("no clean job")
		}
		// Retention deletes the first two segments before Run reads them:
		// the job's references keep their files readable.
		start := l.Segments()[2].BaseOffset
		if err := l.AdvanceLogStartOffset(start); err != nil {
			t.Fatal(err)
		}
		if err := j.Run(context.Background(), CleanerOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := l.CommitClean(j); err != nil {
			t.Fatal(err)
		}
		s := j.Stats()
		if s.GroupsDiscarded != 2 || l.CleanerCheckpoint() != s.CleanedUpToOffset {
			t.Fatalf("stats %+v, checkpoint %d", s, l.CleanerCheckpoint())
		}
		var visible []consumedRecord
		for _, r := range expectedAfterClean(all, s.CleanedUpToOffset, 100, cfg.DeleteRetentionMs) {
			if r.Offset >= start {
				visible = append(visible, r)
			}
		}
		if got := recordsFrom(t, l, start); !sameRecords(got, visible) {
			t.Fatalf("after commit:\n got %s\nwant %s", describeRecords(got), describeRecords(visible))
		}
	})
	t.Run("retention deleted part of a group", func(t *testing.T) {
		l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
		defer l.Close()
		fillKeyed(t, l, 150, 9, 0, "v")
		cleanOnce(t, l, 100, CleanerOptions{})
		fillKeyed(t, l, 150, 9, 200, "w")
		before := readAllRecords(t, l)
		checkpoint := l.CleanerCheckpoint()
		j, ok := l.PlanClean(300, l.LogEndOffset())
		if !ok || len(j.sources) < 3 {
			t.Fatal("no clean job over merged groups")
		}
		if err := j.Run(context.Background(), CleanerOptions{}); err != nil {
			t.Fatal(err)
		}
		if len(j.groups[0].sources) < 2 {
			t.Fatalf("first group has %d segments, want a merged group", len(j.groups[0].sources))
		}
		start := l.Segments()[1].BaseOffset
		if err := l.AdvanceLogStartOffset(start); err != nil {
			t.Fatal(err)
		}
		if err := l.CommitClean(j); err != nil {
			t.Fatal(err)
		}
		// The remnant may hold older values of keys whose tombstones later
		// groups drop: nothing is swapped.
		if s := j.Stats(); s.SegmentsReplaced != 0 || s.GroupsDiscarded != len(j.groups) || l.CleanerCheckpoint() != checkpoint {
			t.Fatalf("stats %+v, checkpoint %d (was %d)", s, l.CleanerCheckpoint(), checkpoint)
		}
		var visible []consumedRecord
		for _, r := range before {
			if r.Offset >= start {
				visible = append(visible, r)
			}
		}
		if got := readAllRecords(t, l); !sameRecords(got, visible) {
			t.Fatal("a discarded pass changed the log")
		}
	})
	t.Run("truncation", func(t *testing.T) {
		mem := vfs.NewMem()
		cfg := cleanerConfig()
		cfg.MinCleanableDirtyRatio = 0
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		defer l.Close()
		fillKeyed(t, l, 150, 9, 0, "v")
		cleanOnce(t, l, 100, CleanerOptions{})
		fillKeyed(t, l, 150, 9, 200, "w")
		j, ok := l.PlanClean(300, l.LogEndOffset())
		if !ok {
			t.Fatal("no clean job")
		}
		if err := j.Run(context.Background(), CleanerOptions{}); err != nil {
			t.Fatal(err)
		}
		// Truncate below the old checkpoint and append other records: the
		// key map holds records that are gone, so nothing may be swapped.
		cut := l.CleanerCheckpoint() - 4
		if err := l.Truncate(cut, 0); err != nil {
			t.Fatal(err)
		}
		lowered := l.CleanerCheckpoint()
		if lowered > l.LogEndOffset() {
			t.Fatalf("checkpoint %d past the truncated end %d", lowered, l.LogEndOffset())
		}
		fillKeyed(t, l, 60, 4, 400, "x")
		before := readAllRecords(t, l)
		if err := l.CommitClean(j); err != nil {
			t.Fatal(err)
		}
		if s := j.Stats(); s.SegmentsReplaced != 0 || s.GroupsDiscarded != len(j.groups) || l.CleanerCheckpoint() != lowered {
			t.Fatalf("stats %+v, checkpoint %d, want nothing swapped and checkpoint %d", s, l.CleanerCheckpoint(), lowered)
		}
		if got := readAllRecords(t, l); !sameRecords(got, before) {
			t.Fatal("a dropped pass changed the log")
		}
		if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
			t.Fatalf("left behind %v", left)
		}
		// The next pass cleans everything.
		stats, ok := cleanOnce(t, l, 500, CleanerOptions{})
		if !ok {
			t.Fatal("no clean job after the truncation")
		}
		want := expectedAfterClean(before, stats.CleanedUpToOffset, 500, cfg.DeleteRetentionMs)
		if got := readAllRecords(t, l); !sameRecords(got, want) {
			t.Fatalf("after cleaning:\n got %s\nwant %s", describeRecords(got), describeRecords(want))
		}
	})
}

// gateThrottle blocks every WaitN until released or cancelled, and says when
// the first one arrived.
type gateThrottle struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGateThrottle() *gateThrottle {
	return &gateThrottle{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateThrottle) WaitN(ctx context.Context, n int) error {
	if n > CleanerThrottleChunkBytes {
		return fmt.Errorf("asked for %d bytes at once", n)
	}
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestCleanJobStopsOnAbandonCancelAndClose(t *testing.T) {
	mem := vfs.NewMem()
	cfg := cleanerConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	all := fillKeyed(t, l, 150, 9, 0, "v")
	startRun := func(ctx context.Context) (*CleanJob, chan error) {
		j, ok := l.PlanClean(100, l.LogEndOffset())
		if !ok {
			t.Fatal("no clean job")
		}
		gate := newGateThrottle()
		done := make(chan error, 1)
		go func() { done <- j.Run(ctx, CleanerOptions{Throttle: gate}) }()
		<-gate.entered
		if _, ok := l.PlanClean(100, l.LogEndOffset()); ok {
			t.Fatal("a second job while one is outstanding")
		}
		return j, done
	}

	j, done := startRun(context.Background())
	j.Abandon()
	if err := <-done; !errors.Is(err, errCleanJobAbandoned) {
		t.Fatalf("run of an abandoned job: %v", err)
	}
	if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
		t.Fatalf("abandoned job left %v", left)
	}

	ctx, cancel := context.WithCancel(context.Background())
	j, done = startRun(ctx)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run with a cancelled context: %v", err)
	}
	if err := l.CommitClean(j); err == nil {
		t.Fatal("committed a job whose Run failed")
	}
	if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
		t.Fatalf("failed job left %v", left)
	}

	_, done = startRun(context.Background())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errCleanJobAbandoned) {
		t.Fatalf("run of a job whose log closed: %v", err)
	}
	if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
		t.Fatalf("closed log's job left %v", left)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l.Close()
	if got := readAllRecords(t, l); !sameRecords(got, all) {
		t.Fatal("abandoned jobs changed the log")
	}
	if l.CleanerCheckpoint() != 0 {
		t.Fatalf("abandoned jobs moved the checkpoint to %d", l.CleanerCheckpoint())
	}
}

func TestCleanerCheckpointPersistsAndFollowsTruncation(t *testing.T) {
	mem := vfs.NewMem()
	cfg := cleanerConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	fillKeyed(t, l, 150, 9, 0, "v")
	cleanOnce(t, l, 100, CleanerOptions{})
	checkpoint := l.CleanerCheckpoint()
	if checkpoint == 0 {
		t.Fatal("no checkpoint after a pass")
	}
	// Truncation lowers it durably before cutting.
	if err := l.Truncate(checkpoint-5, 0); err != nil {
		t.Fatal(err)
	}
	lowered := l.CleanerCheckpoint()
	if lowered > l.LogEndOffset() || lowered > checkpoint-5 {
		t.Fatalf("checkpoint %d after truncating to %d (end %d)", lowered, checkpoint-5, l.LogEndOffset())
	}
	fillKeyed(t, l, 20, 9, 200, "w")
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0) // unclean reopen
	if l.CleanerCheckpoint() != lowered {
		t.Fatalf("checkpoint %d after reopening, want %d", l.CleanerCheckpoint(), lowered)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A checkpoint past the log end is clamped at open, durably.
	if err := vfs.WriteFileAtomic(mem, path.Join("/p", cleanerCheckpointFile), encodeCheckpoint(1<<40)); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	end := l.LogEndOffset()
	if l.CleanerCheckpoint() != end {
		t.Fatalf("checkpoint %d, want it clamped to the log end %d", l.CleanerCheckpoint(), end)
	}
	if cp, ok, err := l.readCheckpoint(cleanerCheckpointFile); err != nil || !ok || cp != end {
		t.Fatalf("clamped checkpoint on disk %d %v", cp, ok)
	}
	_ = l.Close()
}

func TestSetConfig(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l.Close()
	for _, bad := range []func(c *Config){
		func(c *Config) { c.SegmentBytes = 10 },
		func(c *Config) { c.CacheBlockBytes = 8192 },
		func(c *Config) { c.CleanupPolicyDelete = false },
		func(c *Config) { c.MinCleanableDirtyRatio = 1.5 },
		func(c *Config) { c.MaxCompactionLagMs = 0 },
		func(c *Config) { c.DeleteRetentionMs = -1 },
	} {
		c := cfg
		c.SegmentBytes = 1 << 20 // would change the roll size if applied
		bad(&c)
		if err := l.SetConfig(c); err == nil {
			t.Fatalf("SetConfig accepted %+v", c)
		}
	}
	if err := cfg.SetCleanupPolicy("compact,bogus"); err == nil || !cfg.CleanupPolicyDelete || cfg.CleanupPolicyCompact {
		t.Fatalf("bad cleanup.policy: %v, config %+v", err, cfg)
	}
	// Nothing applied: segments still roll at 4 KiB.
	appendN(t, l, 100, 40, 0)
	for _, s := range l.Segments() {
		if s.SizeBytes > 4096 {
			t.Fatalf("segment of %d bytes after rejected configs", s.SizeBytes)
		}
	}
	// segment.bytes takes effect from the next roll.
	cfg.SegmentBytes = 16384
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 400, 40, 0)
	biggest := int64(0)
	for _, s := range l.Segments() {
		biggest = max(biggest, s.SizeBytes)
	}
	if biggest <= 4096 || biggest > 16384 {
		t.Fatalf("largest segment %d bytes after segment.bytes=16384", biggest)
	}
	// retention.bytes takes effect on the next retention pass.
	if n, _ := l.DeleteRetainedSegments(0, allCommitted); n != 0 {
		t.Fatalf("retention.bytes -1 deleted %d segments", n)
	}
	cfg.RetentionBytes = 20000
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteRetainedSegments(0, allCommitted); err != nil || n == 0 || l.SizeBytes() < 20000 {
		t.Fatalf("retention.bytes=20000 deleted %d segments, %d bytes left: %v", n, l.SizeBytes(), err)
	}
	// max.compaction.lag.ms rolls the active segment of a compacted log.
	if err := cfg.SetCleanupPolicy("compact"); err != nil {
		t.Fatal(err)
	}
	cfg.MaxCompactionLagMs = 100
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	before := len(l.Segments())
	appendKeyed(t, l, 1000, keyedRecord{key: "k", value: "v"})
	if len(l.Segments()) != before+1 {
		t.Fatalf("%d segments, want one roll (segment older than max.compaction.lag.ms)", len(l.Segments()))
	}
	appendKeyed(t, l, 1099, keyedRecord{key: "k", value: "v"})
	if len(l.Segments()) != before+1 {
		t.Fatal("rolled before max.compaction.lag.ms")
	}
	appendKeyed(t, l, 1100, keyedRecord{key: "k", value: "v"})
	if len(l.Segments()) != before+2 {
		t.Fatal("no roll at max.compaction.lag.ms")
	}
}

// A pass keeps its last batch, empty if no record of it stays (as Kafka's
// cleaner does since KAFKA-17076): every record below the active segment
// here is a tombstone past delete.retention.ms, and without it the cleaned
// segments would hold no batch at all, so a log whose active segment then
// lost its records (a power loss) would end at an offset no follower
// copying it could reach (simulator seed 3588).
func TestCleanerKeepsTheLastBatchOfAPass(t *testing.T) {
	cfg := cleanerConfig()
	cfg.MinCleanableDirtyRatio = 0
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, nil, 0)
	defer l.Close()
	for i := 0; len(l.segments) < 3; i++ {
		appendKeyed(t, l, 10, keyedRecord{key: fmt.Sprint("k", i), tombstone: true})
	}
	bound := l.active().baseOffset
	appendKeyed(t, l, 10, keyedRecord{key: "latest", value: "v"})
	if _, ok := cleanOnce(t, l, 5000, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	var below []Batch
	for _, raw := range readAllBatches(t, l, 1<<20) {
		if b, _ := ParseBatch(raw); b.FirstOffset < bound {
			below = append(below, b)
		}
	}
	if len(below) != 1 || below[0].NextOffset() != bound || below[0].NumRecords != 0 {
		t.Fatalf("below the active segment at %d the log holds %+v, want one empty batch ending there", bound, below)
	}
}

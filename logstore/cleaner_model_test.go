package logstore

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// TestCleanerRunsConcurrentlyWithAppendsAndReads runs a clean job on one
// goroutine while the appender appends and other goroutines read, then
// commits it while the readers go on. Run it with -race.
func TestCleanerRunsConcurrentlyWithAppendsAndReads(t *testing.T) {
	cfg := cleanerConfig()
	cfg.MinCleanableDirtyRatio = 0
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, newMapCache(), 0)
	defer l.Close()
	var all []consumedRecord
	var raws [][]byte
	appendOne := func(i int) {
		raw, recs := keyedBatch(t, -1, int64(i), keyedRecord{key: fmt.Sprintf("k%d", i%13), value: fmt.Sprintf("v%d", i)},
			keyedRecord{key: fmt.Sprintf("k%d", i%5), value: fmt.Sprintf("w%d-%s", i, bytes.Repeat([]byte("z"), 50))})
		res, err := l.Append([][]byte{raw}, 0, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		for k := range recs {
			recs[k].Offset += res.BaseOffsets[0]
		}
		all = append(all, recs...)
		raws = append(raws, raw)
	}
	for i := range 200 {
		appendOne(i)
	}
	j, ok := l.PlanClean(1000, l.LogEndOffset())
	if !ok {
		t.Fatal("no clean job")
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var readErr atomic.Value
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := readWholeLog(l); err != nil {
					readErr.Store(err)
					return
				}
			}
		}()
	}
	// Run stops at its first read until 50 appends are in, then races the
	// other 150.
	gate := newGateThrottle()
	runDone := make(chan error, 1)
	go func() { runDone <- j.Run(context.Background(), CleanerOptions{MaxKeys: 1000, Throttle: gate}) }()
	<-gate.entered
	for i := 200; i < 400; i++ {
		if i == 250 {
			close(gate.release)
		}
		appendOne(i)
	}
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if err := l.CommitClean(j); err != nil {
		t.Fatal(err)
	}
	for i := 400; i < 450; i++ {
		appendOne(i)
	}
	close(stop)
	readers.Wait()
	if err, _ := readErr.Load().(error); err != nil {
		t.Fatalf("concurrent read: %v", err)
	}
	cleanedUpTo := j.Stats().CleanedUpToOffset
	if cleanedUpTo == 0 || j.Stats().SegmentsReplaced == 0 {
		t.Fatalf("the job cleaned nothing: %+v", j.Stats())
	}
	got := readAllRecords(t, l)
	if want := expectedAfterClean(all, cleanedUpTo, 1000, cfg.DeleteRetentionMs); !sameRecords(got, want) {
		t.Fatalf("after cleaning:\n got %s\nwant %s", describeRecords(got), describeRecords(want))
	}
	if !maps.Equal(latestValues(got), latestValues(all)) {
		t.Fatal("a key's latest value is not readable")
	}
	// Every batch past the cleaned range is stored as appended.
	var after [][]byte
	for _, raw := range raws {
		if b, _ := ParseBatch(raw); b.FirstOffset >= cleanedUpTo {
			after = append(after, raw)
		}
	}
	var gotAfter [][]byte
	for _, raw := range readAllBatches(t, l, 1<<20) {
		if b, _ := ParseBatch(raw); b.FirstOffset >= cleanedUpTo {
			gotAfter = append(gotAfter, raw)
		}
	}
	if !sameBatches(gotAfter, after) {
		t.Fatalf("%d batches past %d, want the %d appended", len(gotAfter), cleanedUpTo, len(after))
	}
}

// readWholeLog reads every batch from the log start and checks offsets
// increase, without a testing.T (it runs on other goroutines).
func readWholeLog(l *Log) error {
	offset, end := l.LogStartOffset(), l.LogEndOffset()
	last := int64(-1)
	for offset < end {
		recs, err := l.Read(offset, 4096, end)
		if err != nil {
			return err
		}
		p, err := recs.Bytes()
		recs.Release()
		if err != nil {
			return err
		}
		if len(p) == 0 {
			return fmt.Errorf("read at %d (end %d) returned nothing", offset, end)
		}
		for len(p) > 0 {
			n, err := BatchSize(p)
			if err != nil || n > len(p) {
				return fmt.Errorf("read at %d: bad batch size %d: %v", offset, n, err)
			}
			b, err := ParseBatch(p[:n])
			if err != nil {
				return fmt.Errorf("read at %d: %w", offset, err)
			}
			if b.FirstOffset <= last {
				return fmt.Errorf("batch at %d after one ending at %d", b.FirstOffset, last)
			}
			last = b.LastOffset()
			p = p[n:]
		}
		offset = recs.NextOffset
	}
	return nil
}

// drawKeyedBatch draws a batch of 1..3 records over a few keys, some
// tombstones and some without a key.
func drawKeyedBatch(t *rapid.T, keys int) []keyedRecord {
	recs := make([]keyedRecord, rapid.IntRange(1, 3).Draw(t, "records"))
	for i := range recs {
		k := rapid.IntRange(-1, keys-1).Draw(t, "key")
		r := keyedRecord{value: fmt.Sprintf("v%d-%s", rapid.IntRange(0, 1<<20).Draw(t, "value"), bytes.Repeat([]byte("p"), rapid.IntRange(0, 120).Draw(t, "pad")))}
		if k >= 0 {
			r.key = fmt.Sprintf("k%d", k)
			r.tombstone = rapid.IntRange(0, 5).Draw(t, "tombstone") == 0
		}
		recs[i] = r
	}
	return recs
}

// TestCleanerCrashAtRandomPoints crashes at a random operation of a clean
// pass (Run or CommitClean) on a filesystem that loses unsynced writes, then
// reopens: the log holds, per group, the old or the cleaned records, so every
// key keeps its latest value; offsets increase; the cleaner checkpoint is the
// old one or the new one, the new one only with every group swapped in; no
// cleaner file is left; and a pass after reopening finishes the job.
func TestCleanerCrashAtRandomPoints(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem(vfs.WithTornWrites(rapid.Uint64().Draw(t, "seed")))
		cfg := cleanerConfig()
		cfg.SegmentBytes = 1500
		cfg.MinCleanableDirtyRatio = 0
		cfg.DeleteRetentionMs = rapid.Int64Range(0, 300).Draw(t, "deleteRetentionMs")
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		nowMs := int64(0)
		for pass := range 2 {
			for range rapid.IntRange(20, 80).Draw(t, "batches") {
				nowMs++
				appendKeyed(t, l, nowMs, drawKeyedBatch(t, 8)...)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if pass == 0 && rapid.Bool().Draw(t, "earlierPass") {
				cleanOnce(t, l, nowMs, CleanerOptions{})
			}
		}
		before := readAllRecords(t, l)
		checkpointBefore, endBefore := l.CleanerCheckpoint(), l.LogEndOffset()
		j, ok := l.PlanClean(nowMs+100, l.LogEndOffset())
		if !ok {
			t.Skip("nothing to clean")
		}
		segs := l.Segments()
		cleanedUpTo := segs[len(segs)-1].BaseOffset
		want := expectedAfterClean(before, cleanedUpTo, nowMs+100, cfg.DeleteRetentionMs)

		mem.CrashAfterOps(rapid.Int64Range(0, 150).Draw(t, "opsBeforeCrash"))
		if err := j.Run(context.Background(), CleanerOptions{}); err != nil {
			j.Abandon()
		} else {
			_ = l.CommitClean(j)
		}
		mem.Crash()

		l = openTestLog(t, mem, "/p", cfg, nil, 0)
		defer l.Close()
		got := readAllRecords(t, l)
		if l.LogEndOffset() != endBefore {
			t.Fatalf("log end offset %d after the crash, was %d", l.LogEndOffset(), endBefore)
		}
		if !isSubsequence(got, before) || !isSubsequence(want, got) {
			t.Fatalf("recovered records are not between the old and the cleaned log:\n got %s\nold %s\nnew %s",
				describeRecords(got), describeRecords(before), describeRecords(want))
		}
		if !maps.Equal(latestValues(got), latestValues(before)) {
			t.Fatalf("latest values changed:\n got %s\nold %s", describeRecords(got), describeRecords(before))
		}
		checkOffsetsIncrease(t, got)
		switch cp := l.CleanerCheckpoint(); cp {
		case checkpointBefore:
		case cleanedUpTo:
			if !sameRecords(got, want) {
				t.Fatalf("checkpoint advanced to %d but not every group was swapped in", cp)
			}
		default:
			t.Fatalf("cleaner checkpoint %d, neither the old %d nor the new %d", cp, checkpointBefore, cleanedUpTo)
		}
		if left := leftoverCleanerFiles(t, mem, "/p"); len(left) != 0 {
			t.Fatalf("left behind %v", left)
		}
		if l.CleanerCheckpoint() != cleanedUpTo {
			if _, ok := cleanOnce(t, l, nowMs+100, CleanerOptions{}); !ok {
				t.Fatal("no clean job after reopening")
			}
		}
		if got := readAllRecords(t, l); !sameRecords(got, want) {
			t.Fatalf("after finishing the pass:\n got %s\nwant %s", describeRecords(got), describeRecords(want))
		}
	})
}

func checkOffsetsIncrease(t testingT, recs []consumedRecord) {
	t.Helper()
	for i := 1; i < len(recs); i++ {
		if recs[i].Offset <= recs[i-1].Offset {
			t.Fatalf("offset %d after %d", recs[i].Offset, recs[i-1].Offset)
		}
	}
}

// TestCleanerMatchesModel runs random appends, clean jobs (planned, run and
// committed in separate steps, with a small key map so passes stop part
// way), truncations, DeleteRecords, config changes and reopens, and checks
// after each step against a naive model (the records appended, minus what
// truncation and DeleteRecords removed): the log's records are a subset of
// the model's; a consumer reading from the log start sees each key's latest
// value; after a commit with only appends since the plan, the log is exactly
// the model cleaned up to the job's checkpoint; below the cleaner checkpoint
// each key appears at most once.
func TestCleanerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem()
		cfg := cleanerConfig()
		cfg.SegmentBytes = rapid.Int64Range(800, 3000).Draw(t, "segmentBytes")
		cfg.IndexIntervalBytes = rapid.Int64Range(0, 600).Draw(t, "indexIntervalBytes")
		cfg.MinCleanableDirtyRatio = rapid.Float64Range(0, 0.8).Draw(t, "minCleanableDirtyRatio")
		cfg.DeleteRetentionMs = rapid.Int64Range(0, 50).Draw(t, "deleteRetentionMs")
		var cache BlockCache
		if rapid.Bool().Draw(t, "cache") {
			cache = newMapCache()
		}
		l := openTestLog(t, mem, "/p", cfg, cache, 0)
		defer func() { _ = l.Close() }()
		var model []consumedRecord // what the log holds, as far as the model knows
		var job *modelCleanJob
		nowMs := int64(0)
		keys := rapid.IntRange(1, 12).Draw(t, "keys")
		for step := range rapid.IntRange(10, 100).Draw(t, "steps") {
			nowMs += rapid.Int64Range(0, 10).Draw(t, "tick")
			switch op := rapid.IntRange(0, 10).Draw(t, "op"); op {
			case 0, 1, 2, 3:
				model = append(model, appendKeyed(t, l, nowMs, drawKeyedBatch(t, keys)...)...)
			case 4, 5, 6:
				if job == nil {
					job = planModelCleanJob(l, nowMs, cfg)
					break
				}
				if err := job.step(t); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				if job.committed {
					model = job.check(t, l, model)
					job = nil
				}
			case 7:
				offset := rapid.Int64Range(0, l.LogEndOffset()+1).Draw(t, "truncate")
				if err := l.Truncate(offset, nowMs); err != nil {
					t.Fatalf("step %d truncate %d: %v", step, offset, err)
				}
				model = keepOffsetsIn(model, l.LogStartOffset(), l.LogEndOffset())
				job.logChanged()
			case 8:
				offset := rapid.Int64Range(l.LogStartOffset(), l.LogEndOffset()).Draw(t, "deleteRecords")
				if err := l.AdvanceLogStartOffset(offset); err != nil {
					t.Fatalf("step %d advance to %d: %v", step, offset, err)
				}
				model = keepOffsetsIn(model, l.LogStartOffset(), l.LogEndOffset())
				job.logChanged()
			case 9:
				cfg.MinCleanableDirtyRatio = rapid.Float64Range(0, 0.8).Draw(t, "minCleanableDirtyRatio")
				cfg.DeleteRetentionMs = rapid.Int64Range(0, 50).Draw(t, "deleteRetentionMs")
				if err := l.SetConfig(cfg); err != nil {
					t.Fatal(err)
				}
			case 10:
				if rapid.Bool().Draw(t, "cleanClose") {
					if err := l.Close(); err != nil { // abandons the job
						t.Fatal(err)
					}
				} else if err := l.Sync(); err != nil {
					t.Fatal(err)
				} else if job != nil {
					job.job.Abandon()
				}
				job = nil
				l = openTestLog(t, mem, "/p", cfg, cache, 0)
			}
			checkAgainstCleanerModel(t, l, model)
		}
		if job != nil {
			job.job.Abandon()
		}
	})
}

// modelCleanJob is a clean job in TestCleanerMatchesModel, advanced one
// step (Run, then CommitClean) at a time.
type modelCleanJob struct {
	job               *CleanJob
	nowMs             int64
	deleteRetentionMs int64
	ran, committed    bool
	// changed says the log was truncated or lost records to DeleteRecords
	// since the plan: the commit may then drop the pass.
	changed bool
}

func planModelCleanJob(l *Log, nowMs int64, cfg Config) *modelCleanJob {
	j, ok := l.PlanClean(nowMs, l.LogEndOffset())
	if !ok {
		return nil
	}
	return &modelCleanJob{job: j, nowMs: nowMs, deleteRetentionMs: cfg.DeleteRetentionMs}
}

func (m *modelCleanJob) logChanged() {
	if m != nil {
		m.changed = true
	}
}

// step runs the job, or commits it once run. A Run that read files a
// truncation cut may fail; the job is then abandoned.
func (m *modelCleanJob) step(t *rapid.T) error {
	if !m.ran {
		m.ran = true
		opts := CleanerOptions{MaxKeys: rapid.IntRange(3, 20).Draw(t, "maxKeys")}
		if err := m.job.Run(context.Background(), opts); err != nil {
			if !m.changed {
				return fmt.Errorf("run: %w", err)
			}
			m.job.Abandon()
			m.committed = true
		}
		return nil
	}
	m.committed = true
	if err := m.job.log.CommitClean(m.job); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// check compares the log after a commit with the model and returns the new
// model.
func (m *modelCleanJob) check(t *rapid.T, l *Log, model []consumedRecord) []consumedRecord {
	got := keepOffsetsIn(readAllRecords(t, l), l.LogStartOffset(), l.LogEndOffset())
	if m.changed {
		checkAgainstCleanerModel(t, l, model)
		return got
	}
	cp := m.job.Stats().CleanedUpToOffset
	want := expectedAfterClean(model, cp, m.nowMs, m.deleteRetentionMs)
	if !sameRecords(got, want) {
		t.Fatalf("after a pass up to %d:\n got %s\nwant %s", cp, describeRecords(got), describeRecords(want))
	}
	return want
}

// keepOffsetsIn keeps the records in [start, end).
func keepOffsetsIn(recs []consumedRecord, start, end int64) []consumedRecord {
	var out []consumedRecord
	for _, r := range recs {
		if r.Offset >= start && r.Offset < end {
			out = append(out, r)
		}
	}
	return out
}

func checkAgainstCleanerModel(t *rapid.T, l *Log, model []consumedRecord) {
	got := keepOffsetsIn(readAllRecords(t, l), l.LogStartOffset(), l.LogEndOffset())
	if !isSubsequence(got, model) {
		t.Fatalf("log holds records the model does not:\n got %s\nmodel %s", describeRecords(got), describeRecords(model))
	}
	if !maps.Equal(latestValues(got), latestValues(model)) {
		t.Fatalf("latest values differ:\n got %s\nmodel %s", describeRecords(got), describeRecords(model))
	}
	checkOffsetsIncrease(t, got)
	cp := l.CleanerCheckpoint()
	if cp < l.LogStartOffset() || cp > l.LogEndOffset() {
		t.Fatalf("cleaner checkpoint %d outside the log %d..%d", cp, l.LogStartOffset(), l.LogEndOffset())
	}
	checkUniqueKeysBelow(t, got, cp)
}

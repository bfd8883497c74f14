package logstore

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// epochModelBatch is a batch in the epoch model: its offsets and epoch.
type epochModelBatch struct {
	base, next int64
	epoch      int32
}

// epochModel is a naive model of the leader-epoch cache. Instead of keeping
// entries, it keeps the batches (those below the log start offset too) and
// derives the entries from the visible ones each time: the first batch of
// each newer epoch starts an entry (the first visible batch's at no lower
// than the log start offset). The one thing batches cannot tell, an epoch
// begun at the log end offset without a record, is endEntry.
type epochModel struct {
	batches          []epochModelBatch
	logStart, logEnd int64
	endEntry         *EpochEntry
}

func (m *epochModel) entries() []EpochEntry {
	var es []EpochEntry
	for _, b := range m.batches {
		if b.next <= m.logStart || b.base >= m.logEnd {
			continue
		}
		if n := len(es); n == 0 || b.epoch > es[n-1].Epoch {
			es = append(es, EpochEntry{Epoch: b.epoch, StartOffset: max(b.base, m.logStart)})
		}
	}
	if m.endEntry != nil {
		es = append(es, *m.endEntry)
	}
	return es
}

func (m *epochModel) latest() (int32, bool) {
	es := m.entries()
	if len(es) == 0 {
		return 0, false
	}
	return es[len(es)-1].Epoch, true
}

// latestVisibleBatchEpoch is the epoch of the last batch a reader sees.
func (m *epochModel) latestVisibleBatchEpoch() (int32, bool) {
	for i := len(m.batches) - 1; i >= 0; i-- {
		if b := m.batches[i]; b.next > m.logStart {
			return b.epoch, true
		}
	}
	return 0, false
}

// endOffsetFor answers by a linear scan.
func (m *epochModel) endOffsetFor(epoch int32) (int32, int64) {
	es := m.entries()
	if epoch < 0 || len(es) == 0 {
		return -1, -1
	}
	if es[len(es)-1].Epoch == epoch {
		return epoch, m.logEnd
	}
	for i, e := range es {
		if e.Epoch > epoch {
			if i == 0 {
				return epoch, e.StartOffset
			}
			return es[i-1].Epoch, e.StartOffset
		}
	}
	return -1, -1
}

func (m *epochModel) appendBatch(b epochModelBatch) {
	m.batches = append(m.batches, b)
	m.logEnd = b.next
	m.endEntry = nil
}

// truncate follows Log.Truncate: whole batches go, an epoch begun at the end
// goes.
func (m *epochModel) truncate(offset int64) {
	m.endEntry = nil
	switch {
	case offset >= m.logEnd:
		return
	case offset <= m.logStart:
		m.batches, m.logStart, m.logEnd = nil, offset, offset
		return
	}
	for i, b := range m.batches {
		if b.next > offset {
			m.batches, m.logEnd = m.batches[:i:i], b.base
			break
		}
	}
	m.logStart = min(m.logStart, m.logEnd)
}

// advanceStart follows a log start advance: when nothing is left to read,
// the latest epoch stays, begun at the end.
func (m *epochModel) advanceStart(offset int64) {
	if offset <= m.logStart {
		return
	}
	latest, ok := m.latest()
	m.logStart = offset
	if ok && offset == m.logEnd {
		m.endEntry = &EpochEntry{Epoch: latest, StartOffset: offset}
	}
}

// checkEpochsMatchModel compares every lookup with the model.
func checkEpochsMatchModel(t *rapid.T, l *Log, m *epochModel, what string) {
	if l.LogStartOffset() != m.logStart || l.LogEndOffset() != m.logEnd {
		t.Fatalf("%s: log %d..%d, model %d..%d", what, l.LogStartOffset(), l.LogEndOffset(), m.logStart, m.logEnd)
	}
	want := m.entries()
	if got := l.LeaderEpochs(); !slices.Equal(got, want) && len(got)+len(want) > 0 {
		t.Fatalf("%s: leader epochs %v, model %v (batches %v, log %d..%d)", what, got, want, m.batches, m.logStart, m.logEnd)
	}
	gotLatest, gotOK := l.LatestEpoch()
	if wantLatest, wantOK := m.latest(); gotLatest != wantLatest || gotOK != wantOK {
		t.Fatalf("%s: latest epoch %d %v, model %d %v", what, gotLatest, gotOK, wantLatest, wantOK)
	}
	top := int32(0)
	if len(want) > 0 {
		top = want[len(want)-1].Epoch
	}
	for epoch := int32(-2); epoch <= top+2; epoch++ {
		gotEpoch, gotEnd := l.EndOffsetForEpoch(epoch)
		if wantEpoch, wantEnd := m.endOffsetFor(epoch); gotEpoch != wantEpoch || gotEnd != wantEnd {
			t.Fatalf("%s: end offset for epoch %d: (%d, %d), model (%d, %d); entries %v, log end %d",
				what, epoch, gotEpoch, gotEnd, wantEpoch, wantEnd, want, m.logEnd)
		}
	}
}

// TestLeaderEpochsMatchModel runs random leader appends (some at stale
// epochs), follower appends, epoch starts, truncations, log start advances,
// retention, reopens and crashes, and after each compares the cache and
// every EndOffsetForEpoch answer with epochModel.
func TestLeaderEpochsMatchModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.SegmentBytes = rapid.Int64Range(1400, 5000).Draw(t, "segmentBytes")
		cfg.IndexIntervalBytes = rapid.Int64Range(0, 1000).Draw(t, "indexIntervalBytes")
		cfg.RetentionMs = -1
		mem := vfs.NewMem()
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		defer func() { _ = l.Close() }()
		m := &epochModel{}
		for step := range rapid.IntRange(1, 80).Draw(t, "steps") {
			what := stepEpochModel(t, mem, &l, m, cfg)
			checkEpochsMatchModel(t, l, m, what)
			_ = step
		}
	})
}

// stepEpochModel draws one operation, runs it on *l and m, and names it.
func stepEpochModel(t *rapid.T, mem *vfs.Mem, l **Log, m *epochModel, cfg Config) string {
	latest, _ := m.latest()
	switch rapid.IntRange(0, 11).Draw(t, "op") {
	case 0, 1, 2:
		epoch := max(0, latest+rapid.Int32Range(-1, 2).Draw(t, "epochStep"))
		raw, ts := genBatch(t)
		_, err := (*l).Append([][]byte{raw}, epoch, 0)
		if current, ok := m.latest(); ok && epoch < current {
			if !errors.Is(err, kerr.FencedLeaderEpoch) {
				t.Fatalf("append at stale epoch %d (latest %d): %v", epoch, current, err)
			}
			return "refused append"
		}
		if err != nil {
			t.Fatalf("append at epoch %d: %v", epoch, err)
		}
		m.appendBatch(epochModelBatch{base: m.logEnd, next: m.logEnd + int64(len(ts)), epoch: epoch})
		return "append"
	case 3, 4:
		// The leader's epochs never go below what this log holds; they
		// may go below an epoch begun here without a record.
		epoch, _ := m.latestVisibleBatchEpoch()
		var batches [][]byte
		for range rapid.IntRange(1, 3).Draw(t, "followerBatches") {
			epoch += rapid.Int32Range(0, 2).Draw(t, "followerEpochStep")
			n := rapid.IntRange(1, 4).Draw(t, "followerRecords")
			batches = append(batches, followerBatch(t, m.logEnd, n, epoch))
			m.appendBatch(epochModelBatch{base: m.logEnd, next: m.logEnd + int64(n), epoch: epoch})
		}
		if _, err := (*l).AppendAsFollower(batches, 0); err != nil {
			t.Fatalf("append as follower: %v", err)
		}
		return "follower append"
	case 5:
		epoch := max(0, latest+rapid.Int32Range(-1, 2).Draw(t, "assignStep"))
		err := (*l).AssignEpochStartOffset(epoch)
		current, ok := m.latest()
		switch {
		case ok && epoch < current:
			if !errors.Is(err, kerr.FencedLeaderEpoch) {
				t.Fatalf("assign stale epoch %d: %v", epoch, err)
			}
		case err != nil:
			t.Fatalf("assign epoch %d: %v", epoch, err)
		case !ok || epoch > current:
			m.endEntry = &EpochEntry{Epoch: epoch, StartOffset: m.logEnd}
		}
		return "assign epoch start offset"
	case 6:
		offset := rapid.Int64Range(0, m.logEnd+2).Draw(t, "truncate")
		if err := (*l).Truncate(offset, 0); err != nil {
			t.Fatalf("truncate %d: %v", offset, err)
		}
		m.truncate(offset)
		return "truncate"
	case 7:
		offset := rapid.Int64Range(m.logStart, m.logEnd).Draw(t, "advance")
		if err := (*l).AdvanceLogStartOffset(offset); err != nil {
			t.Fatalf("advance to %d: %v", offset, err)
		}
		m.advanceStart(offset)
		return "advance log start"
	case 8:
		(*l).cfg.RetentionBytes = rapid.Int64Range(0, 5000).Draw(t, "retentionBytes")
		if _, err := (*l).DeleteRetainedSegments(0, allCommitted); err != nil {
			t.Fatalf("retention: %v", err)
		}
		(*l).cfg.RetentionBytes = -1
		m.advanceStart((*l).LogStartOffset())
		return "retention"
	case 9:
		if err := (*l).Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		*l = openTestLog(t, mem, "/p", cfg, nil, 0)
		return "reopen"
	case 10:
		if rapid.Bool().Draw(t, "syncBeforeCrash") {
			if err := (*l).Sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
		mem.Crash()
		*l = openTestLog(t, mem, "/p", cfg, nil, 0)
		adoptRecoveredLog(t, *l, m)
		return "crash"
	default:
		if err := (*l).Sync(); err != nil {
			t.Fatalf("sync: %v", err)
		}
		return "sync"
	}
}

// adoptRecoveredLog makes the model what survived a crash, after checking
// it is a prefix of what the model held: the batches up to the recovered log
// end offset, the recovered log start offset, and the epoch begun at the end
// if recovery kept one (a crash may keep or lose it).
func adoptRecoveredLog(t *rapid.T, l *Log, m *epochModel) {
	end, start := l.LogEndOffset(), l.LogStartOffset()
	k := 0
	for k < len(m.batches) && m.batches[k].next <= end {
		k++
	}
	switch {
	case k > 0 && m.batches[k-1].next == end, k == 0 && (len(m.batches) == 0 || m.batches[0].base == end):
		m.batches = m.batches[:k:k]
	case end == start:
		m.batches = nil // started empty at the checkpointed log start offset
	default:
		t.Fatalf("recovered log end offset %d is inside a batch the model holds", end)
	}
	m.logStart, m.logEnd, m.endEntry = start, end, nil
	es := l.LeaderEpochs()
	if n := len(es); n > 0 && es[n-1].StartOffset == end {
		m.endEntry = &es[n-1]
	}
	checkEpochsConsistent(t, l)
}

// checkEpochsConsistent checks the cache against the log itself: entries in
// strictly increasing epoch and start offset, none past the log end offset
// nor below the log start offset, and those below the end exactly what the
// stored batches say.
func checkEpochsConsistent(t *rapid.T, l *Log) {
	es := l.LeaderEpochs()
	start, end := l.LogStartOffset(), l.LogEndOffset()
	for i, e := range es {
		if e.StartOffset > end || e.StartOffset < start {
			t.Fatalf("entry %+v outside the log %d..%d: %v", e, start, end, es)
		}
		if i > 0 && (e.Epoch <= es[i-1].Epoch || e.StartOffset <= es[i-1].StartOffset) {
			t.Fatalf("entries out of order: %v", es)
		}
	}
	var derived []EpochEntry
	for _, raw := range readAllBatches(t, l, 1<<20) {
		base, epoch := batchBaseAndEpoch(raw)
		if n := len(derived); n == 0 || epoch > derived[n-1].Epoch {
			derived = append(derived, EpochEntry{Epoch: epoch, StartOffset: max(base, start)})
		}
	}
	body := es
	if n := len(es); n > 0 && es[n-1].StartOffset == end {
		body = es[:n-1]
	}
	if !slices.Equal(body, derived) && len(body)+len(derived) > 0 {
		t.Fatalf("entries %v, but the batches of %d..%d say %v", es, start, end, derived)
	}
}

// TestLeaderEpochsSurviveCrashes crashes the in-memory filesystem at a
// random operation during appends, follower appends, epoch starts,
// truncations and log start advances (losing unsynced writes, tearing the
// last), reopens, and checks the cache is consistent with the recovered log
// and never ahead of it; then goes on from there.
func TestLeaderEpochsSurviveCrashes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem(vfs.WithTornWrites(rapid.Uint64().Draw(t, "tornSeed")))
		cfg := DefaultConfig()
		cfg.SegmentBytes = rapid.Int64Range(1400, 6000).Draw(t, "segmentBytes")
		cfg.IndexIntervalBytes = rapid.Int64Range(0, 1000).Draw(t, "indexIntervalBytes")
		cfg.RecoveryPointCheckpointIntervalMs = 1
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		for round := range rapid.IntRange(1, 4).Draw(t, "rounds") {
			mem.CrashAfterOps(rapid.Int64Range(0, 150).Draw(t, "opsBeforeCrash"))
			for step := 0; step < 40; step++ {
				if err := crashStep(t, l, int64(round*100+step)); err != nil {
					break // the filesystem is gone; whatever was durable stays
				}
			}
			mem.Crash()
			l = openTestLog(t, mem, "/p", cfg, nil, 0)
			checkEpochsConsistent(t, l)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// crashStep runs one random operation; an error other than a refused stale
// epoch means the filesystem crashed.
func crashStep(t *rapid.T, l *Log, nowMs int64) error {
	latest, _ := l.LatestEpoch()
	switch rapid.IntRange(0, 8).Draw(t, "op") {
	case 0, 1, 2:
		raw, _ := genBatch(t)
		epoch := max(0, latest+rapid.Int32Range(-1, 2).Draw(t, "epochStep"))
		if _, err := l.Append([][]byte{raw}, epoch, nowMs); err != nil && !errors.Is(err, kerr.FencedLeaderEpoch) {
			return err
		}
	case 3:
		epoch := latest + rapid.Int32Range(0, 2).Draw(t, "followerEpochStep")
		n := rapid.IntRange(1, 4).Draw(t, "followerRecords")
		if _, err := l.AppendAsFollower([][]byte{followerBatch(t, l.LogEndOffset(), n, epoch)}, nowMs); err != nil {
			return err
		}
	case 4:
		if err := l.AssignEpochStartOffset(latest + 1); err != nil {
			return err
		}
	case 5:
		if err := l.Truncate(rapid.Int64Range(0, l.LogEndOffset()+1).Draw(t, "truncate"), nowMs); err != nil {
			return err
		}
	case 6:
		if err := l.AdvanceLogStartOffset(rapid.Int64Range(l.LogStartOffset(), l.LogEndOffset()).Draw(t, "advance")); err != nil {
			return err
		}
	case 7:
		return l.Sync()
	default:
		return l.Tick(nowMs)
	}
	return nil
}

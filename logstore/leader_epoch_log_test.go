package logstore

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore/vfs"
)

// appendAtEpoch appends n single-batch appends of 2 records as leader at
// epoch and returns the log end offset after them.
func appendAtEpoch(t *testing.T, l *Log, n int, epoch int32) int64 {
	t.Helper()
	for i := range n {
		if _, err := l.Append([][]byte{simpleBatch(t, 2, 30, int64(i), i)}, epoch, int64(i)); err != nil {
			t.Fatalf("append at epoch %d: %v", epoch, err)
		}
	}
	return l.LogEndOffset()
}

// followerBatch is a batch of n records as a leader stored it: at base, with
// epoch stamped.
func followerBatch(tb testingT, base int64, n int, epoch int32) []byte {
	raw := simpleBatch(tb, n, 30, base, int(base))
	SetBatchBaseOffset(raw, base)
	SetBatchLeaderEpoch(raw, epoch)
	return raw
}

func wantEpochs(t *testing.T, l *Log, want ...EpochEntry) {
	t.Helper()
	if got := l.LeaderEpochs(); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("leader epochs %v, want %v", got, want)
	}
}

func epochCheckpointText(t *testing.T, fsys vfs.FS, dir string) string {
	t.Helper()
	p, err := ReadWholeFile(fsys, path.Join(dir, leaderEpochCheckpointFile), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestAppendStartsLeaderEpochsAndRefusesOlderOnes(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	// A new log writes no empty checkpoint: a missing one reads as empty.
	if _, err := mem.Stat(path.Join("/p", leaderEpochCheckpointFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a new log's leader-epoch checkpoint: %v, want none", err)
	}
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("a new log has a latest epoch")
	}
	end0 := appendAtEpoch(t, l, 3, 0)
	wantEpochs(t, l, EpochEntry{0, 0})
	end2 := appendAtEpoch(t, l, 2, 2)
	wantEpochs(t, l, EpochEntry{0, 0}, EpochEntry{2, end0})

	stale := simpleBatch(t, 1, 30, 0, 99)
	original := slices.Clone(stale)
	if _, err := l.Append([][]byte{stale}, 1, 0); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("append at an older epoch: %v, want FENCED_LEADER_EPOCH", err)
	}
	if l.LogEndOffset() != end2 || !slices.Equal(stale, original) {
		t.Fatal("a refused append changed the log or the batch")
	}
	if epoch, ok := l.LatestEpoch(); !ok || epoch != 2 {
		t.Fatalf("latest epoch %d %v, want 2", epoch, ok)
	}
	for _, c := range []struct {
		asked, epoch int32
		end          int64
	}{{0, 0, end0}, {1, 0, end0}, {2, 2, end2}, {3, -1, -1}} {
		if epoch, end := l.EndOffsetForEpoch(c.asked); epoch != c.epoch || end != c.end {
			t.Errorf("end offset for epoch %d: (%d, %d), want (%d, %d)", c.asked, epoch, end, c.epoch, c.end)
		}
	}
	if got, want := epochCheckpointText(t, mem, "/p"), "0\n2\n0 0\n2 "+itoa(end0)+"\n"; got != want {
		t.Fatalf("checkpoint holds %q, want %q", got, want)
	}
	// Stored batches carry the epoch they were appended at.
	for _, b := range readAllBatches(t, l, 1<<20) {
		base, epoch := batchBaseAndEpoch(b)
		if want := int32(0); base >= end0 {
			want = 2
			if epoch != want {
				t.Fatalf("batch at %d has epoch %d, want %d", base, epoch, want)
			}
		} else if epoch != want {
			t.Fatalf("batch at %d has epoch %d, want %d", base, epoch, want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	wantEpochs(t, l, EpochEntry{0, 0}, EpochEntry{2, end0})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func batchBaseAndEpoch(raw []byte) (int64, int32) {
	return int64(binary.BigEndian.Uint64(raw[batchBaseOffsetPos:])), int32(binary.BigEndian.Uint32(raw[batchLeaderEpochPos:]))
}

func TestAppendAsFollowerStartsEpochsFromBatches(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	batches := [][]byte{followerBatch(t, 0, 3, 1), followerBatch(t, 3, 2, 1), followerBatch(t, 9, 1, 4), followerBatch(t, 10, 2, 6)}
	if _, err := l.AppendAsFollower(batches, 0); err != nil {
		t.Fatal(err)
	}
	// Epoch 4 starts where the gap [5, 9) before its first batch starts:
	// compaction may have dropped its first batches on the leader.
	wantEpochs(t, l, EpochEntry{1, 0}, EpochEntry{4, 5}, EpochEntry{6, 10})
	if epoch, end := l.EndOffsetForEpoch(5); epoch != 4 || end != 10 {
		t.Fatalf("end offset for epoch 5: (%d, %d), want (4, 10)", epoch, end)
	}
	if epoch, end := l.EndOffsetForEpoch(3); epoch != 1 || end != 5 {
		t.Fatalf("end offset for epoch 3: (%d, %d), want (1, 5)", epoch, end)
	}
	// This replica led epoch 8 briefly without writing; the new leader's
	// epoch 7 replaces it and is never refused.
	if err := l.AssignEpochStartOffset(8); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{1, 0}, EpochEntry{4, 5}, EpochEntry{6, 10}, EpochEntry{8, 12})
	if _, err := l.AppendAsFollower([][]byte{followerBatch(t, 12, 1, 7)}, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{1, 0}, EpochEntry{4, 5}, EpochEntry{6, 10}, EpochEntry{7, 12})
}

func TestAssignEpochStartOffset(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	end := appendAtEpoch(t, l, 2, 3)
	if err := l.AssignEpochStartOffset(5); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{3, 0}, EpochEntry{5, end})
	// A follower of epoch 3 learns where this leader took over.
	if epoch, got := l.EndOffsetForEpoch(3); epoch != 3 || got != end {
		t.Fatalf("end offset for epoch 3: (%d, %d), want (3, %d)", epoch, got, end)
	}
	if err := l.AssignEpochStartOffset(4); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("assign an older epoch: %v", err)
	}
	if err := l.AssignEpochStartOffset(5); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, 1)}, 4, 0); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("append below a started epoch: %v", err)
	}
	// The begun epoch survives a restart; the first append keeps its start.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	wantEpochs(t, l, EpochEntry{3, 0}, EpochEntry{5, end})
	appendAtEpoch(t, l, 1, 5)
	wantEpochs(t, l, EpochEntry{3, 0}, EpochEntry{5, end})
}

func TestTruncationDropsEpochs(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	end0 := appendAtEpoch(t, l, 10, 0)
	end1 := appendAtEpoch(t, l, 10, 1)
	appendAtEpoch(t, l, 10, 2)
	wantEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, end0}, EpochEntry{2, end1})
	// Inside epoch 1's last batch: the batch goes, epoch 2 with it.
	if err := l.Truncate(end1-1, 0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != end1-2 {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), end1-2)
	}
	wantEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, end0})
	// At the first offset of epoch 1: it goes.
	if err := l.Truncate(end0, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{0, 0})
	// Past the end: only an epoch begun at the end, with no record, goes.
	if err := l.AssignEpochStartOffset(9); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(l.LogEndOffset()+5, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{0, 0})
	if got := epochCheckpointText(t, mem, "/p"); got != "0\n1\n0 0\n" {
		t.Fatalf("checkpoint holds %q", got)
	}
	if err := l.TruncateFullyAndStartAt(1000, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l)
	if got := epochCheckpointText(t, mem, "/p"); got != "0\n0\n" {
		t.Fatalf("checkpoint after truncating fully holds %q", got)
	}
	appendAtEpoch(t, l, 1, 3)
	wantEpochs(t, l, EpochEntry{3, 1000})
	mem.Crash()
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	// The epoch was checkpointed before its records, lost or not.
	wantEpochs(t, l, EpochEntry{3, 1000})
}

func TestLogStartAdvanceTruncatesEpochs(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	end0 := appendAtEpoch(t, l, 40, 0)
	end1 := appendAtEpoch(t, l, 40, 1)
	appendAtEpoch(t, l, 40, 2)
	if err := l.AdvanceLogStartOffset(5); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{0, 5}, EpochEntry{1, end0}, EpochEntry{2, end1})
	if err := l.AdvanceLogStartOffset(end0 + 3); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{1, end0 + 3}, EpochEntry{2, end1})
	// Retention by size moves the log start to a segment boundary.
	cfg.RetentionBytes = 5000
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteRetainedSegments(0, allCommitted); err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	start := l.LogStartOffset()
	want := []EpochEntry{{2, max(start, end1)}}
	if start < end1 {
		want = []EpochEntry{{1, start}, {2, end1}}
	}
	wantEpochs(t, l, want...)
	// Every record gone: the latest epoch stays, at the end.
	if err := l.AdvanceLogStartOffset(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l, EpochEntry{2, l.LogEndOffset()})
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, 1)}, 1, 0); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("append below the epoch of deleted records: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l.Close()
	wantEpochs(t, l, EpochEntry{2, l.LogEndOffset()})
}

// TestEpochCacheRebuiltWithoutCheckpoint opens logs whose checkpoint is
// missing (a directory written before the cache existed, where every batch
// has epoch 0) or corrupt: the cache is rebuilt from batch headers.
func TestEpochCacheRebuiltWithoutCheckpoint(t *testing.T) {
	for _, damage := range []string{"missing", "corrupt"} {
		t.Run(damage, func(t *testing.T) {
			mem := vfs.NewMem()
			l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
			end0 := appendAtEpoch(t, l, 40, 0)
			end1 := appendAtEpoch(t, l, 40, 1)
			appendAtEpoch(t, l, 3, 4)
			if err := l.AdvanceLogStartOffset(7); err != nil {
				t.Fatal(err)
			}
			want := l.LeaderEpochs()
			if !slices.Equal(want, []EpochEntry{{0, 7}, {1, end0}, {4, end1}}) {
				t.Fatalf("leader epochs %v", want)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			name := path.Join("/p", leaderEpochCheckpointFile)
			if damage == "missing" {
				if err := mem.Remove(name); err != nil {
					t.Fatal(err)
				}
			} else {
				writeRaw(t, mem, name, []byte("0\n3\n0 7\n1 "))
			}
			l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
			defer l.Close()
			wantEpochs(t, l, want...)
			if got := epochCheckpointText(t, mem, "/p"); got != string(encodeEpochCheckpoint(want)) {
				t.Fatalf("rebuilt checkpoint holds %q", got)
			}
		})
	}
}

// TestFailedAppendRestoresEpochCheckpoint fails the write of records that
// start a new epoch: nothing is appended and the epoch is gone, from memory
// and from the checkpoint.
func TestFailedAppendRestoresEpochCheckpoint(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	end := appendAtEpoch(t, l, 3, 1)
	mem.SetErrorHook(func(op vfs.Op, name string) error {
		if op == vfs.OpWriteAt && strings.HasSuffix(name, logFileExt) {
			return syscall.EIO
		}
		return nil
	})
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, 1)}, 2, 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("append with failing writes: %v", err)
	}
	if _, err := l.AppendAsFollower([][]byte{followerBatch(t, end, 1, 3)}, 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("follower append with failing writes: %v", err)
	}
	mem.SetErrorHook(nil)
	wantEpochs(t, l, EpochEntry{1, 0})
	if l.LogEndOffset() != end {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), end)
	}
	if got := epochCheckpointText(t, mem, "/p"); got != "0\n1\n1 0\n" {
		t.Fatalf("checkpoint holds %q", got)
	}
	// A failed checkpoint write appends nothing either.
	mem.SetErrorHook(func(op vfs.Op, name string) error {
		if strings.Contains(name, leaderEpochCheckpointFile) {
			return syscall.EIO
		}
		return nil
	})
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, 1)}, 2, 0); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("append with a failing checkpoint: %v", err)
	}
	mem.SetErrorHook(nil)
	if l.LogEndOffset() != end {
		t.Fatal("an append whose epoch could not be checkpointed wrote records")
	}
	wantEpochs(t, l, EpochEntry{1, 0})
	appendAtEpoch(t, l, 1, 2)
	wantEpochs(t, l, EpochEntry{1, 0}, EpochEntry{2, end})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEpochLookupsDuringAppends reads the cache from several goroutines while
// the appender starts epochs: every answer is one the log could give (run it
// with -race).
func TestEpochLookupsDuringAppends(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), newMapCache(), 0)
	defer l.Close()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				latest, ok := l.LatestEpoch()
				es := l.LeaderEpochs()
				for i := 1; i < len(es); i++ {
					if es[i].Epoch <= es[i-1].Epoch || es[i].StartOffset <= es[i-1].StartOffset {
						t.Errorf("entries out of order: %v", es)
						return
					}
				}
				if !ok {
					continue
				}
				epoch, end := l.EndOffsetForEpoch(latest - 1)
				if end > l.LogEndOffset() || epoch > latest {
					t.Errorf("end offset for epoch %d: (%d, %d) past the log end %d", latest-1, epoch, end, l.LogEndOffset())
					return
				}
			}
		}()
	}
	for epoch := range int32(60) {
		appendAtEpoch(t, l, 3, epoch)
		if epoch%10 == 9 {
			if err := l.Truncate(l.LogEndOffset()-2, 0); err != nil {
				t.Error(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestRecoveryStartsEpochsTheCheckpointLacks reopens, after a crash, a log
// whose checkpoint lags its records past the recovery point (as one written
// by an older broker could): the rescan starts the missing epoch.
func TestRecoveryStartsEpochsTheCheckpointLacks(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	end1 := appendAtEpoch(t, l, 3, 1)
	if err := l.Close(); err != nil { // the recovery point is now end1
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	appendAtEpoch(t, l, 3, 2)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := vfs.WriteFileAtomic(mem, path.Join("/p", leaderEpochCheckpointFile), encodeEpochCheckpoint([]EpochEntry{{1, 0}})); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	wantEpochs(t, l, EpochEntry{1, 0}, EpochEntry{2, end1})
}

// TestEpochRebuildIgnoresRecordsBelowLogStart rebuilds the cache of a log
// whose only records below the log start offset carry a newer epoch than the
// records after it (everything was deleted, the epoch begun at the end
// truncated away, and a leader of a lower epoch appended): those records
// say nothing.
func TestEpochRebuildIgnoresRecordsBelowLogStart(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	end := appendAtEpoch(t, l, 3, 5)
	if err := l.AdvanceLogStartOffset(end); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(end, 0); err != nil {
		t.Fatal(err)
	}
	wantEpochs(t, l)
	appendAtEpoch(t, l, 2, 2)
	wantEpochs(t, l, EpochEntry{2, end})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mem.Remove(path.Join("/p", leaderEpochCheckpointFile)); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	wantEpochs(t, l, EpochEntry{2, end})
}

package cluster

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// TestEpochCacheMatchesLog checks the replica core's reading of the
// leader-epoch cache against the log's own: over a real log driven through
// follower and leader appends, epoch starts, truncations and log start
// advances, epochEndOffset answers every epoch as Log.EndOffsetForEpoch
// does, and epochsFromStart moves the cache as Log.AdvanceLogStartOffset
// does.
func TestEpochCacheMatchesLog(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		fs := vfs.NewMem()
		log, err := logstore.Open(logstore.Options{FS: fs, Dir: "/d/t-0", Config: testLogConfig()})
		if err != nil {
			rt.Fatal(err)
		}
		defer log.Close()
		for i, n := 0, rapid.IntRange(1, 40).Draw(rt, "ops"); i < n; i++ {
			leo := log.LogEndOffset()
			latest, _ := log.LatestEpoch()
			switch rapid.IntRange(0, 5).Draw(rt, "op") {
			case 0:
				epoch := int32(rapid.IntRange(0, 8).Draw(rt, "follower epoch"))
				_, _ = log.AppendAsFollower([][]byte{leaderBatch(rt, leo, rapid.IntRange(1, 3).Draw(rt, "records"), epoch)}, 0)
			case 1:
				epoch := latest + int32(rapid.IntRange(0, 2).Draw(rt, "leader epoch step"))
				_, _ = log.Append([][]byte{testBatch(rt, 1, 0, 0, 0)}, epoch, 0)
			case 2:
				_ = log.AssignEpochStartOffset(latest + int32(rapid.IntRange(0, 2).Draw(rt, "assign step")))
			case 3:
				_ = log.Truncate(rapid.Int64Range(log.LogStartOffset(), leo).Draw(rt, "truncate to"), 0)
			case 4:
				before := log.LeaderEpochs()
				start := rapid.Int64Range(log.LogStartOffset(), leo).Draw(rt, "log start")
				if err := log.AdvanceLogStartOffset(start); err != nil {
					rt.Fatal(err)
				}
				if want, got := log.LeaderEpochs(), epochsFromStart(before, start); !slices.Equal(want, got) {
					rt.Fatalf("log start %d: the log's cache is %v, the core's %v (from %v)", start, want, got, before)
				}
			case 5:
				if rapid.IntRange(0, 9).Draw(rt, "fully") == 0 {
					_ = log.TruncateFullyAndStartAt(leo+rapid.Int64Range(0, 5).Draw(rt, "skip"), 0)
				}
			}
			es := log.LeaderEpochs()
			for e := int32(-1); e <= 11; e++ {
				we, wo := log.EndOffsetForEpoch(e)
				ge, gof := epochEndOffset(es, e, log.LogEndOffset())
				if we != ge || wo != gof {
					rt.Fatalf("epoch %d over %v (log end %d): log says (%d, %d), core (%d, %d)", e, es, log.LogEndOffset(), we, wo, ge, gof)
				}
			}
		}
	})
}

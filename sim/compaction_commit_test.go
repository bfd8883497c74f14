package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// TestFailedCompactionCommitRegistersWhatItSwapped: CommitClean swaps its
// groups in one by one and returns an error when one fails, leaving the
// groups before it swapped in; a group whose fresh segment is in place but
// whose index file cannot be written is swapped in too. What those groups
// dropped must be registered like any commit's, or a replica that later
// reads the compacted log (a follower fetching from it, a restart) holds a
// gap its shadow cannot fill, and S4 sees its log differ from the others'
// (seed 342 with --duration 3m: a follower fetched past batches a
// half-failed commit had dropped on its leader). A shadow rebuilt from the
// compacted log must end with the same chain as the shadow of the log as
// first written.
func TestFailedCompactionCommitRegistersWhatItSwapped(t *testing.T) {
	w := newWorld(Options{Seed: 1, Profile: &Profile{}})
	n := w.node(1)
	tp := tpKey{"t", 0}
	h := &replicaHost{n: n, key: tp}
	cfg := logstore.DefaultConfig()
	cfg.CleanupPolicyCompact, cfg.CleanupPolicyDelete = true, false
	cfg.SegmentBytes, cfg.MinCleanableDirtyRatio = 400, 0
	log, err := logstore.Open(logstore.Options{FS: n.fs, Dir: h.dir(), Config: cfg, NowMs: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	h.log = log
	h.shadow.canon = w.compactionOf(tp)
	for i := range 40 {
		b := [][]byte{buildKeyedBatch([]byte(fmt.Sprintf("k%d", i%2)), fmt.Sprintf("v%d", i), int64(i))}
		if _, err := log.Append(b, 0, int64(i)); err != nil {
			t.Fatal(err)
		}
		h.shadow.appendBatches(b)
	}
	job, ok := log.PlanClean(100, log.LogEndOffset())
	if !ok {
		t.Fatal("no compaction planned")
	}
	if err := job.Run(context.Background(), logstore.CleanerOptions{}); err != nil {
		t.Fatal(err)
	}
	// The second group's fresh segment goes in place, then its index
	// cannot be synced.
	indexSyncs := 0
	n.fs.SetErrorHook(func(op vfs.Op, path string) error {
		if op == vfs.OpSync && strings.HasSuffix(path, ".index.tmp") {
			if indexSyncs++; indexSyncs == 2 {
				return errors.New("input/output error")
			}
		}
		return nil
	})
	h.cleaning = &cleanTask{h: h, log: log, job: job}
	h.finishCompaction(true)
	n.fs.SetErrorHook(nil)
	if indexSyncs < 2 {
		t.Fatalf("the commit synced %d index files, the fault never struck", indexSyncs)
	}
	if st := job.Stats(); st.SegmentsReplaced == 0 {
		t.Fatalf("the commit swapped no group in before it failed: %+v", st)
	}
	rebuilt := shadowLog{canon: w.compactionOf(tp)}
	if err := rebuilt.rebuild(log); err != nil {
		t.Fatal(err)
	}
	held := 0
	_, _ = eachLogBatch(log, func(*logstore.Batch) error { held++; return nil })
	if held >= len(h.shadow.batches) {
		t.Fatalf("the log holds %d batches of %d: compaction dropped none", held, len(h.shadow.batches))
	}
	got, want := rebuilt.batches, h.shadow.batches
	if len(got) != len(want) || got[len(got)-1].chain != want[len(want)-1].chain {
		t.Fatalf("the shadow rebuilt from the compacted log holds %d batches, the log as first written %d; they do not end alike",
			len(got), len(want))
	}
}

// TestUnregisteredDropIsCaught: at a compaction commit the simulator
// checks itself: a batch its shadow holds and the log lost, below the
// log's last batch, must have been registered as dropped.
func TestUnregisteredDropIsCaught(t *testing.T) {
	for _, registered := range []bool{true, false} {
		c := &compactionLog{rewritten: map[batchID]uint32{}, dropped: map[batchID]shadowBatch{}, removed: map[int64]bool{}}
		s := &shadowLog{canon: c}
		for i := range int64(4) {
			s.pushID(i, i, 0, uint32(10+i))
		}
		if registered {
			c.registerFollows(s.batches[0].id(), s.batches[1])
		}
		v := &logView{batches: []viewBatch{{id: s.batches[0].id()}, {id: s.batches[2].id()}, {id: s.batches[3].id()}}}
		caught := func() (caught bool) {
			defer func() { caught = recover() != nil }()
			s.checkGapsRegistered(c, v)
			return false
		}()
		if caught == registered {
			t.Errorf("batch 1 lost, registered as dropped %t: caught %t", registered, caught)
		}
	}
}

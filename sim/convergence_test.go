package sim

import (
	"bytes"
	"strings"
	"testing"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// TestShadowFillsGapsWhoseSuccessorWasTruncated: compaction drops a batch
// whose key a later batch superseded, a truncation then takes that later
// batch, and the replica's log, read again (a restart's recovery), holds
// a gap before a batch of another history, or nothing up to its end. Its
// shadow still holds the log as first written, as the shadow of the
// replica that lived through it does (seeds 13 and 529).
func TestShadowFillsGapsWhoseSuccessorWasTruncated(t *testing.T) {
	rec := func(offset int64, key string, value uint64) viewRecord {
		return viewRecord{offset: offset, key: key, value: value}
	}
	batch := func(base int64, epoch int32, crc uint32, recs ...viewRecord) viewBatch {
		return viewBatch{id: batchID{base: base, last: base, epoch: epoch, crc: crc}, records: recs}
	}
	for _, tc := range []struct {
		name string
		// next is the batch after the gap in the log as read again; none
		// when the log ends at the gap.
		next *batchID
	}{
		{"a gap before another history's batch", &batchID{base: 2, last: 2, epoch: 1, crc: 30}},
		{"nothing up to the log end", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			tp := tpKey{"t", 0}
			// Key a at 0 and 1, superseded at 2; b at 3.
			before := &logView{batches: []viewBatch{batch(0, 0, 10, rec(0, "a", 1)), batch(1, 0, 11, rec(1, "a", 2)),
				batch(2, 0, 12, rec(2, "a", 3)), batch(3, 0, 13, rec(3, "b", 4))}}
			after := &logView{batches: []viewBatch{batch(2, 0, 12, rec(2, "a", 3)), batch(3, 0, 13, rec(3, "b", 4))}}
			lived := &shadowLog{canon: w.compactionOf(tp)}
			for _, b := range before.batches {
				lived.pushID(b.id.base, b.id.last, b.id.epoch, b.id.crc)
			}
			if removed := w.compactionCommitted(w.node(1), tp, lived, before, after); removed != 2 || len(w.violations) > 0 {
				t.Fatalf("removed %d, violations %v", removed, w.violations)
			}
			// A truncation to 2 takes what superseded the dropped batches;
			// the next leader's batch comes at 2, in leader epoch 1.
			lived.truncate(2)
			fresh := &shadowLog{canon: w.compactionOf(tp)}
			if tc.next != nil {
				lived.pushID(tc.next.base, tc.next.last, tc.next.epoch, tc.next.crc)
				fresh.fillDropped(*tc.next)
				fresh.pushID(tc.next.base, tc.next.last, tc.next.epoch, tc.next.crc)
			} else if !fresh.fillForward(2) {
				t.Fatalf("nothing fills the log up to its end at 2")
			}
			if fresh.end() != lived.end() || len(fresh.batches) != len(lived.batches) ||
				fresh.batches[len(fresh.batches)-1].chain != lived.batches[len(lived.batches)-1].chain {
				t.Fatalf("the shadow of the log read again is %v, the one that lived through it %v", fresh.batches, lived.batches)
			}
		})
	}
}

// TestShadowRefilledFromTheReplicasOwn: two histories held different
// batches at the same offsets, and compaction dropped both (each on its
// replica). A replica whose recovered log holds nothing there is filled
// from the shadow it had before the restart, not with the first history
// that fits (seed 63 with --duration 3m: S4 after a restart).
func TestShadowRefilledFromTheReplicasOwn(t *testing.T) {
	canon := &compactionLog{dropped: map[batchID]shadowBatch{}}
	other := shadowBatch{base: 0, last: 0, epoch: 0, crc: 10, pid: -1, pepoch: -1, seq: -1}
	own := shadowBatch{base: 0, last: 0, epoch: 1, crc: 20, pid: -1, pepoch: -1, seq: -1}
	canon.registerFollows(logStartID(0), other)
	canon.registerFollows(logStartID(0), own)
	prev := &shadowLog{canon: canon}
	prev.pushBatch(own)
	fresh := &shadowLog{canon: canon, prev: prev}
	if !fresh.fillFromPrev(1) || len(fresh.batches) != 1 || fresh.batches[0].chain != prev.batches[0].chain {
		t.Fatalf("refilled with %v, the replica held %v", fresh.batches, prev.batches)
	}
}

// TestLongSeedsConverge plays the seeds that failed to converge: 529 (a
// compacted __transaction_state replica went offline at its restart), 13
// with three minutes of faults (S4 on a gap compaction left before a later
// history's batch), 63 (S4 on a gap refilled with another history's
// batches), 1869 (a failed roll left a segment file behind, and the log
// did not open after a restart: logstore's TestFailedRollLeavesNoSegmentFile)
// 1167 and 1097 (S4 on the leader-epoch cache of a follower whose shadow
// ended with a batch compaction had dropped before it fetched) and 977 (S7
// on a producer whose batches a power loss dropped, after which the
// partition no longer knew it and took its next sequence), 174 with
// three minutes of faults (Q12: a node cut off from the controller went on
// answering OffsetFetch from its old group state after the controller had
// moved the group's coordinator; coordinators now answer only under the
// broker's lease, node_lease.go), and 342 with three minutes of faults
// (S4 on a follower that fetched past batches a compaction commit dropped
// on its leader before it failed, which the simulator did not register:
// TestFailedCompactionCommitRegistersWhatItSwapped), 1178 and 1450 with
// three minutes of faults (S4: a follower kept a batch of an older epoch
// from another history, because its leader, which had fetched from a
// compacted log, started the next epoch at the first batch it got and
// answered OffsetsForLeaderEpoch too high; logstore's
// TestAppendAsFollowerStartsEpochsFromBatches), 2315 and 3588 with three
// minutes of faults (L1: a follower fetching below a leader's log that
// held no batch up to its end never caught up; the leader now raises its
// log start offset past such a prefix, cluster's
// testdata/replica/empty_prefix.txt) and 2321 with three minutes of faults
// (S4 on a follower whose gap before a fetched batch was filled from its
// own older history instead of its leader's: leaderShadow).
func TestLongSeedsConverge(t *testing.T) {
	for _, opts := range []Options{{Seed: 529, DurationMs: 60_000}, {Seed: 13, DurationMs: 180_000}, {Seed: 63, DurationMs: 180_000},
		{Seed: 1869, DurationMs: 60_000}, {Seed: 1167, DurationMs: 60_000}, {Seed: 1097, DurationMs: 60_000}, {Seed: 977, DurationMs: 60_000},
		{Seed: 174, DurationMs: 180_000}, {Seed: 342, DurationMs: 180_000}, {Seed: 1178, DurationMs: 180_000}, {Seed: 1450, DurationMs: 180_000},
		{Seed: 2315, DurationMs: 180_000}, {Seed: 3588, DurationMs: 180_000}, {Seed: 2321, DurationMs: 180_000}} {
		rep := Run(opts)
		if rep.Failed() {
			t.Errorf("seed %d (%s of faults): %v", opts.Seed, fmtMs(opts.DurationMs), rep.Violations[0])
		}
	}
}

// TestGroupOfManyPartitionsCommits: a consumer group member that owns 60
// partitions would commit them in one batch of about 2.7 KB, more than a
// 2 KiB segment of __consumer_offsets holds: every commit would be refused
// (RECORD_LIST_TOO_LARGE), the coordinator would revert by loading its
// partition again and forget its members, and the group would never settle
// (seed 17 with --duration 3m, whose workload had created 25 topics). The
// member commits them in turns (commitMaxPartitions).
func TestGroupOfManyPartitionsCommits(t *testing.T) {
	p := QuietProfile()
	p.Topics, p.Partitions, p.GroupMembers, p.ProduceEveryMs = 20, 3, 1, 20
	var trace bytes.Buffer
	rep := Run(Options{Seed: 5, DurationMs: 40_000, Profile: &p, Trace: &trace})
	if rep.Failed() {
		t.Fatalf("%v", rep.Violations[0])
	}
	if n := strings.Count(trace.String(), "reverts after a failed append"); n > 0 {
		t.Fatalf("the group coordinator reverted %d times without a fault: %s", n, firstLine(trace.String(), "RECORD_LIST_TOO_LARGE"))
	}
	if !strings.Contains(trace.String(), "groups stable") {
		t.Fatalf("the group was never checked stable")
	}
}

// firstLine is the first line of s that holds sub.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// TestLogHolds: logHolds tells a batch the log holds from one it does not.
func TestLogHolds(t *testing.T) {
	log, err := logstore.Open(logstore.Options{FS: vfs.NewMem(), Dir: "/p", Config: logstore.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.Append([][]byte{buildKeyedBatch([]byte("k"), "v", 0), buildKeyedBatch([]byte("k"), "w", 0)}, 0, 0); err != nil {
		t.Fatal(err)
	}
	if !logHolds(log, 0) || !logHolds(log, 1) || logHolds(log, 2) {
		t.Fatalf("logHolds(0, 1, 2) = %t, %t, %t", logHolds(log, 0), logHolds(log, 1), logHolds(log, 2))
	}
}

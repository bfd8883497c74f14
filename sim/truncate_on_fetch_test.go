package sim

import "testing"

// TestRaisedLogStartRestartsTheChain: a follower that held batches below
// its leader's log start, fetched the leader's first batch and then raised
// its log start to the leader's holds the same log as the leader above that
// start, so S4 must see the same chain (seed 2315 with --duration 3m, where
// leaders answered diverging epochs to followers that asked
// OffsetForLeaderEpoch first, failed S4 on this checker error).
func TestRaisedLogStartRestartsTheChain(t *testing.T) {
	var follower shadowLog
	for off := int64(0); off < 327; off++ {
		follower.pushID(off, off, 10, uint32(off))
	}
	follower.pushID(327, 327, 20, 0x7f71)
	follower.raiseStart(327)
	leader := shadowLog{start: 327}
	leader.pushID(327, 327, 20, 0x7f71)
	if follower.start != leader.start || len(follower.batches) != 1 {
		t.Fatalf("follower's shadow after the raise: start %d, %d batches", follower.start, len(follower.batches))
	}
	if f, l := follower.batches[0].chain, leader.batches[0].chain; f != l {
		t.Fatalf("the same log from 327 chains to %x on the follower and %x on the leader", f, l)
	}
	// A raise inside a batch keeps it: the log starts at its base.
	follower.pushID(328, 330, 20, 1)
	follower.raiseStart(329)
	fresh := shadowLog{start: 328}
	fresh.pushID(328, 330, 20, 1)
	if follower.start != 328 || len(follower.batches) != 1 || follower.batches[0].chain != fresh.batches[0].chain {
		t.Fatalf("a raise inside a batch: start %d, %d batches", follower.start, len(follower.batches))
	}
}

// TestReplicasDifferingInTruncateOnFetchConverge: leaders answer diverging
// epochs whatever their own followers do, so a cluster whose followers ask
// OffsetForLeaderEpoch first (all, or some) is as safe as one whose
// followers truncate on fetch (the simulator's default): seed 2315 with
// three minutes of faults, which once failed S4 with every follower asking
// first (a checker error: TestRaisedLogStartRestartsTheChain).
func TestReplicasDifferingInTruncateOnFetchConverge(t *testing.T) {
	for _, askFirst := range [][]int32{nil, {1, 2, 3}, {2}, {1, 3}} {
		rep := Run(Options{Seed: 2315, DurationMs: 180_000, AskEpochFirst: askFirst})
		if rep.Failed() {
			t.Errorf("seed 2315, followers asking first on %v: %v", askFirst, rep.Violations[0])
		}
	}
}

// TestReplayCommandNamesNodesAskingFirst: a run whose followers on some
// nodes ask OffsetForLeaderEpoch first replays with the same nodes.
func TestReplayCommandNamesNodesAskingFirst(t *testing.T) {
	got := (&Report{Seed: 7, Nodes: 3, DurationMs: 60_000, AskEpochFirst: []int32{1, 3}}).ReplayCommand()
	if want := "gregor sim run --seed 7 --nodes 3 --duration 60000ms --ask-epoch-first 1,3"; got != want {
		t.Fatalf("replay %q, want %q", got, want)
	}
}

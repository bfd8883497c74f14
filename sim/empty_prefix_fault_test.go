package sim

import "testing"

// TestEmptiedPrefixReachesThePath: the compaction profile's emptied-stretch
// fault, in its emptied-prefix variant (the stretch topic quiet until the
// first attempt cut its follower off at the log start), plays out on seed
// 16: the leader raises its log start past a prefix that holds no batch
// (cluster's emptyPrefixEnd), and the checkers find nothing.
func TestEmptiedPrefixReachesThePath(t *testing.T) {
	p := CompactionProfile()
	rep := Run(Options{Seed: 16, DurationMs: 60_000, Profile: &p})
	if rep.Failed() {
		t.Fatalf("%v", rep.Violations[0])
	}
	if s := rep.Stats; s.EmptyPrefixRaises == 0 {
		t.Errorf("no log start raised past an empty prefix (%d emptied-stretch faults played out)", s.StretchFaultsPlayed)
	}
}

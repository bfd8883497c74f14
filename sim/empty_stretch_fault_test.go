package sim

import "testing"

// TestEmptiedStretchFaultReachesThePath: the compaction profile's
// emptied-stretch fault plays out on seed 5: a follower appends the empty
// stretch of a leader whose log ends in a stretch its compaction emptied
// (cluster's emptyStretch, which no seed of the profile reached before
// the fault), consumers read over it, and the checkers find nothing.
// (Seed 3 played it until the controllers ran periodic preferred-leader
// elections; 6 of seeds 1-30 play it out since.)
func TestEmptiedStretchFaultReachesThePath(t *testing.T) {
	p := CompactionProfile()
	rep := Run(Options{Seed: 5, DurationMs: 60_000, Profile: &p})
	if rep.Failed() {
		t.Fatalf("%v", rep.Violations[0])
	}
	if s := rep.Stats; s.StretchFaultsPlayed == 0 || s.EmptyStretches == 0 || s.ConsumerEmptyStretches == 0 {
		t.Errorf("%d emptied-stretch faults played out, %d empty batches appended by followers, %d read by consumers",
			s.StretchFaultsPlayed, s.EmptyStretches, s.ConsumerEmptyStretches)
	}
}

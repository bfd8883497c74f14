package sim

import (
	"testing"

	"gregor/cluster"
)

// TestElectionCompletingReassignment: S5 takes a leader elected from the
// ISR that the same change left when that change completed a reassignment
// that removed the old leader (seed 150016: the leader's AlterPartition
// took broker 2 into the ISR, which completed the move of [2 1 3] to
// [2 1], and 2 was elected in the same record), and still fires on a
// leader from outside the ISR otherwise.
func TestElectionCompletingReassignment(t *testing.T) {
	before := cluster.PartitionImage{Replicas: []int32{2, 1, 3}, ISR: []int32{1, 3}, Leader: 3, LeaderEpoch: 4,
		RemovingReplicas: []int32{3}}
	completed := cluster.PartitionImage{Replicas: []int32{2, 1}, ISR: []int32{1, 2}, Leader: 2, LeaderEpoch: 5}
	notReassigning := before
	notReassigning.RemovingReplicas = nil
	outsideISR := completed
	outsideISR.ISR = []int32{1}
	for _, c := range []struct {
		name          string
		before, after cluster.PartitionImage
		violation     bool
	}{
		{"completes the reassignment", before, completed, false},
		{"no reassignment under way", notReassigning, completed, true},
		{"leader outside the ISR the change left", before, outsideISR, true},
	} {
		w := newWorld(Options{Seed: 1, Profile: &Profile{}})
		w.checks.checkElection(tpKey{"t0", 0}, &cluster.TopicImage{Name: "t0"}, c.before, c.after, cluster.NewMetadataImage())
		if got := len(w.violations) > 0; got != c.violation {
			t.Errorf("%s: violation %t, want %t (%v)", c.name, got, c.violation, w.violations)
		}
	}
}

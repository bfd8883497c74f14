package cluster

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPlaceReplicasIsBalanced: every partition gets rf distinct brokers of
// the cluster, preferred leaders differ by at most one partition from broker
// to broker, and whole rounds of partitions spread all replicas evenly.
func TestPlaceReplicasIsBalanced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "brokers")
		brokers := make([]int32, n)
		for i := range brokers {
			brokers[i] = int32(10 + 3*i)
		}
		rf := rapid.IntRange(1, n).Draw(t, "rf")
		count := int32(rapid.IntRange(1, 60).Draw(t, "partitions"))
		start, shift := rapid.IntRange(0, n-1).Draw(t, "start"), rapid.IntRange(0, n-1).Draw(t, "shift")
		placed := placeReplicas(brokers, 0, count, rf, start, shift)
		if len(placed) != int(count) {
			t.Fatalf("%d partitions placed, want %d", len(placed), count)
		}
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p, r := range placed {
			if len(r) != rf {
				t.Fatalf("partition %d has %v, want %d replicas", p, r, rf)
			}
			for i, b := range r {
				if !slices.Contains(brokers, b) || slices.Contains(r[:i], b) {
					t.Fatalf("partition %d has %v", p, r)
				}
				replicas[b]++
			}
			leaders[r[0]]++
		}
		spread := func(counts map[int32]int) int {
			lo, hi := int(count)*rf, 0
			for _, b := range brokers {
				lo, hi = min(lo, counts[b]), max(hi, counts[b])
			}
			return hi - lo
		}
		if spread(leaders) > 1 {
			t.Fatalf("leaders %v", leaders)
		}
		// In a whole round, each follower position is a shift of the
		// leaders, so every broker holds as many replicas.
		if count%int32(n) == 0 && spread(replicas) != 0 {
			t.Fatalf("replicas %v", replicas)
		}
	})
}

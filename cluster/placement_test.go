package cluster

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPlaceReplicasIsBalanced: every partition gets rf distinct brokers of
// the cluster, on distinct racks while there are racks enough; preferred
// leaders differ by at most one partition from broker to broker; and
// without racks, whole rounds of partitions spread all replicas evenly.
func TestPlaceReplicasIsBalanced(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 9).Draw(t, "brokers")
		numRacks := rapid.IntRange(1, n).Draw(t, "racks")
		var brokers []placementBroker
		rackOf := map[int32]string{}
		for i := range n {
			b := placementBroker{id: int32(10 + 3*i)}
			if numRacks > 1 {
				// Racks of unequal sizes: brokers go to a drawn rack,
				// every rack getting one first.
				r := i
				if i >= numRacks {
					r = rapid.IntRange(0, numRacks-1).Draw(t, "rack")
				}
				b.rack = fmt.Sprintf("r%d", r)
			}
			rackOf[b.id] = b.rack
			brokers = append(brokers, b)
		}
		list := rackAlternated(brokers)
		rf := rapid.IntRange(1, n).Draw(t, "rf")
		count := int32(rapid.IntRange(1, 60).Draw(t, "partitions"))
		start, shift := rapid.IntRange(0, n-1).Draw(t, "start"), rapid.IntRange(0, n-1).Draw(t, "shift")
		placed := placeReplicas(list, 0, count, rf, start, shift)
		if len(placed) != int(count) {
			t.Fatalf("%d partitions placed, want %d", len(placed), count)
		}
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p, r := range placed {
			if len(r) != rf {
				t.Fatalf("partition %d has %v, want %d replicas", p, r, rf)
			}
			racks := map[string]bool{}
			for i, b := range r {
				if _, ok := rackOf[b]; !ok || slices.Contains(r[:i], b) {
					t.Fatalf("partition %d has %v", p, r)
				}
				racks[rackOf[b]] = true
				replicas[b]++
			}
			if len(racks) != min(rf, numRacks) {
				t.Fatalf("partition %d has %v on racks %v, want %d racks", p, r, racks, min(rf, numRacks))
			}
			leaders[r[0]]++
		}
		spread := func(counts map[int32]int) int {
			lo, hi := int(count)*rf, 0
			for _, b := range brokers {
				lo, hi = min(lo, counts[b.id]), max(hi, counts[b.id])
			}
			return hi - lo
		}
		if spread(leaders) > 1 {
			t.Fatalf("leaders %v", leaders)
		}
		// In a whole round without racks, each follower position is a
		// shift of the leaders, so every broker holds as many replicas.
		if numRacks == 1 && count%int32(n) == 0 && spread(replicas) != 0 {
			t.Fatalf("replicas %v", replicas)
		}
	})
}

// TestRackAlternated: one broker of each rack in turn, racks in name order.
func TestRackAlternated(t *testing.T) {
	got := rackAlternated([]placementBroker{{5, "b"}, {1, "a"}, {4, "b"}, {2, "a"}, {3, "a"}, {6, "c"}})
	var ids []int32
	for _, b := range got {
		ids = append(ids, b.id)
	}
	if want := []int32{1, 4, 6, 2, 5, 3}; !slices.Equal(ids, want) {
		t.Fatalf("order %v, want %v", ids, want)
	}
}

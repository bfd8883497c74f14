package cluster

import (
	"cmp"
	"fmt"
	"slices"
)

// placementBroker is a broker replicas may be placed on, and its rack (""
// for none: the brokers without a rack count as one rack).
type placementBroker struct {
	id   int32
	rack string
}

// rackAlternated orders brokers so that neighbours sit in different racks
// for as long as racks last: racks in name order, each rack's brokers in id
// order, one broker of each rack in turn (a1 b1 c1 a2 b2 c2 a3 ...). Without
// racks it is the brokers in id order.
func rackAlternated(brokers []placementBroker) []placementBroker {
	byRack := map[string][]placementBroker{}
	for _, b := range brokers {
		byRack[b.rack] = append(byRack[b.rack], b)
	}
	racks := make([]string, 0, len(byRack))
	for r, bs := range byRack {
		racks = append(racks, r)
		slices.SortFunc(bs, func(a, b placementBroker) int { return cmp.Compare(a.id, b.id) })
	}
	slices.Sort(racks)
	out := make([]placementBroker, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// placeReplicas lays out count partitions numbered from `from` on, with rf
// replicas each, over brokers in rack-alternated order (rf of them at
// least). The first replicas (the preferred leaders) go round the brokers
// from start, one partition after another, so leadership is spread evenly
// over brokers and racks. Each later replica sits a shift away from the
// first, skipping brokers of a rack the partition already uses while some
// rack is unused, so a partition's replicas sit in distinct racks where
// there are enough; once every rack holds one, racks may repeat. The shift
// moves on after every full round so that followers spread too. Without
// racks this is Kafka's layout without racks.
func placeReplicas(brokers []placementBroker, from, count int32, rf, start, shift int) [][]int32 {
	n := len(brokers)
	racks := map[string]bool{}
	for _, b := range brokers {
		racks[b.rack] = true
	}
	numRacks := len(racks)
	out := make([][]int32, 0, max(count-from, 0))
	for p := int(from); p < int(count); p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{brokers[first].id}
		used := map[string]bool{brokers[first].rack: true}
		for k := 0; len(replicas) < rf; k++ {
			if k >= 2*n {
				panic(fmt.Sprintf("placement: %d replicas over %d brokers", rf, n))
			}
			b := brokers[(first+1+(shift+k)%(n-1))%n]
			if slices.Contains(replicas, b.id) {
				continue
			}
			// The first pass over the other brokers keeps racks distinct;
			// a second one (only for brokers a rack rule skipped) does not.
			if k < n-1 && used[b.rack] && len(used) < numRacks {
				continue
			}
			replicas = append(replicas, b.id)
			used[b.rack] = true
			if len(used) == numRacks {
				clear(used)
			}
		}
		out = append(out, replicas)
	}
	return out
}

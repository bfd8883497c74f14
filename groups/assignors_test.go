package groups

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// Both assignors give every partition of a subscribed topic to exactly one
// member subscribed to it; uniform keeps members with the same
// subscription within one partition of each other, and keeps a member's
// partitions when nothing changed.
func TestAssignorsProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nTopics := rapid.IntRange(1, 4).Draw(t, "topics")
		partitions := map[string]int32{}
		for i := 0; i < nTopics; i++ {
			partitions[fmt.Sprint("t", i)] = int32(rapid.IntRange(1, 12).Draw(t, "partitions"))
		}
		nMembers := rapid.IntRange(1, 8).Draw(t, "members")
		homogeneous := rapid.Bool().Draw(t, "homogeneous")
		var members []*consumerMember
		subs := map[string]map[string]bool{}
		for i := 0; i < nMembers; i++ {
			m := &consumerMember{id: fmt.Sprintf("m%02d", i)}
			members = append(members, m)
			subs[m.id] = map[string]bool{}
			for topic := range partitions {
				if homogeneous || rapid.Bool().Draw(t, "subscribes") {
					subs[m.id][topic] = true
				}
			}
		}
		subscribed := map[string]int32{}
		for _, s := range subs {
			for topic := range s {
				subscribed[topic] = partitions[topic]
			}
		}
		check := func(name string, out map[string]tpSet) {
			owner := map[topicPartition]string{}
			for id, set := range out {
				for tp := range set {
					if other, dup := owner[tp]; dup {
						t.Fatalf("%s: %v to %s and %s", name, tp, other, id)
					}
					if !subs[id][tp.topic] {
						t.Fatalf("%s: %v to %s, not subscribed", name, tp, id)
					}
					owner[tp] = id
				}
			}
			if len(owner) != len(allPartitions(subscribed)) {
				t.Fatalf("%s: %d of %d partitions assigned", name, len(owner), len(allPartitions(subscribed)))
			}
		}
		prev := map[string]tpSet{}
		if rapid.Bool().Draw(t, "previous") {
			prev = assignRange(members, subs, subscribed)
		}
		uniform := assignUniform(members, subs, subscribed, prev)
		check("uniform", uniform)
		check("range", assignRange(members, subs, subscribed))
		if homogeneous {
			lo, hi := 1<<30, 0
			for _, set := range uniform {
				lo, hi = min(lo, len(set)), max(hi, len(set))
			}
			if hi-lo > 1 {
				t.Fatalf("uniform: members hold between %d and %d partitions", lo, hi)
			}
		}
		again := assignUniform(members, subs, subscribed, uniform)
		for id, set := range uniform {
			if fmt.Sprint(set.sorted()) != fmt.Sprint(again[id].sorted()) {
				t.Fatalf("uniform moved %s's partitions with nothing changed: %v then %v", id, set.sorted(), again[id].sorted())
			}
		}
	})
}

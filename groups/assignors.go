package groups

import (
	"slices"
)

// The server assignors of consumer groups. Both take the members (sorted
// by id), each member's subscribed topics and each topic's partition count,
// and return every member's target; every partition of a subscribed topic
// goes to exactly one member subscribed to it.

// assignUniform spreads the partitions evenly and keeps each partition
// where it was when it can (Kafka's uniform assignor has the same aim): a
// member keeps what it had and may still have, the rest goes to the least
// loaded member that may take it, then partitions move from the most to the
// least loaded until no member has two more than another that could take
// its partitions.
func assignUniform(members []*consumerMember, subs map[string]map[string]bool, partitions map[string]int32, prev map[string]tpSet) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	owner := map[topicPartition]string{}
	for _, m := range members {
		out[m.id] = tpSet{}
		for _, tp := range prev[m.id].sorted() {
			if subs[m.id][tp.topic] && tp.partition < partitions[tp.topic] && owner[tp] == "" {
				out[m.id][tp] = struct{}{}
				owner[tp] = m.id
			}
		}
	}
	// The members subscribed to each topic, found once per topic.
	eligibleOf := map[string][]*consumerMember{}
	eligible := func(topic string) []*consumerMember {
		if es, ok := eligibleOf[topic]; ok {
			return es
		}
		var es []*consumerMember
		for _, m := range members {
			if subs[m.id][topic] {
				es = append(es, m)
			}
		}
		eligibleOf[topic] = es
		return es
	}
	least := func(es []*consumerMember) *consumerMember {
		var best *consumerMember
		for _, m := range es {
			if best == nil || len(out[m.id]) < len(out[best.id]) {
				best = m
			}
		}
		return best
	}
	all := allPartitions(partitions)
	for _, tp := range all {
		if owner[tp] != "" {
			continue
		}
		if m := least(eligible(tp.topic)); m != nil {
			out[m.id][tp] = struct{}{}
			owner[tp] = m.id
		}
	}
	// Balance: bounded by the partition count, as each move lowers the
	// spread between two members.
	for range all {
		if !moveOne(members, out, eligible) {
			break
		}
	}
	return out
}

// moveOne moves one partition from a member to another eligible member
// with at least two fewer, preferring the most loaded source; it reports
// whether it moved one.
func moveOne(members []*consumerMember, out map[string]tpSet, eligible func(string) []*consumerMember) bool {
	if len(members) == 0 {
		return false
	}
	sources := slices.Clone(members)
	slices.SortStableFunc(sources, func(a, b *consumerMember) int { return len(out[b.id]) - len(out[a.id]) })
	fewest := len(out[sources[len(sources)-1].id])
	for _, src := range sources {
		if len(out[src.id])-1 <= fewest {
			// No member has two fewer than this source, nor than
			// any after it (they have no more).
			return false
		}
		for _, tp := range out[src.id].sorted() {
			var dst *consumerMember
			for _, m := range eligible(tp.topic) {
				if len(out[m.id]) < len(out[src.id])-1 && (dst == nil || len(out[m.id]) < len(out[dst.id])) {
					dst = m
				}
			}
			if dst != nil {
				delete(out[src.id], tp)
				out[dst.id][tp] = struct{}{}
				return true
			}
		}
	}
	return false
}

// assignRange gives each member subscribed to a topic a contiguous range of
// its partitions, the first members one more when they do not divide
// evenly: members subscribed to the same topics get the same partition
// numbers of each (co-partitioning).
func assignRange(members []*consumerMember, subs map[string]map[string]bool, partitions map[string]int32) map[string]tpSet {
	out := make(map[string]tpSet, len(members))
	for _, m := range members {
		out[m.id] = tpSet{}
	}
	topics := make([]string, 0, len(partitions))
	for t := range partitions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, topic := range topics {
		var es []*consumerMember
		for _, m := range members {
			if subs[m.id][topic] {
				es = append(es, m)
			}
		}
		if len(es) == 0 {
			continue
		}
		n := partitions[topic]
		per, extra := n/int32(len(es)), n%int32(len(es))
		next := int32(0)
		for i, m := range es {
			count := per
			if int32(i) < extra {
				count++
			}
			for p := next; p < next+count; p++ {
				out[m.id][topicPartition{topic: topic, partition: p}] = struct{}{}
			}
			next += count
		}
	}
	return out
}

// allPartitions lists every partition of the topics, sorted.
func allPartitions(partitions map[string]int32) []topicPartition {
	var out []topicPartition
	for t, n := range partitions {
		for p := int32(0); p < n; p++ {
			out = append(out, topicPartition{topic: t, partition: p})
		}
	}
	slices.SortFunc(out, compareTopicPartitions)
	return out
}

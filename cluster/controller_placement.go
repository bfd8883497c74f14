package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// placeReplicas lays out count partitions numbered from `from` on, with rf
// replicas each, over brokers (sorted, rf of them at least). As Kafka does
// without racks, the first replicas (the preferred leaders) go round the
// brokers from start, one partition after another, so leadership is spread
// evenly; each later replica sits a shift away from the first, and the shift
// moves on after every full round so that followers spread too.
func placeReplicas(brokers []int32, from, count int32, rf, start, shift int) [][]int32 {
	n := len(brokers)
	out := make([][]int32, 0, max(count-from, 0))
	for p := int(from); p < int(count); p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{brokers[first]}
		for j := 0; j < rf-1; j++ {
			gap := 1 + (shift+j)%(n-1)
			replicas = append(replicas, brokers[(first+gap)%n])
		}
		out = append(out, replicas)
	}
	return out
}

// placement chooses the replicas of a topic's partitions from `from` to
// count. A topic that has partitions goes on from where its partition 0's
// preferred leader sits; a new one starts at a random broker.
func (c *Controller) placement(t *TopicImage, from, count int32, rf int) ([][]int32, *apiError) {
	n := len(c.brokers)
	if rf > n {
		return nil, c.replicationTooHigh(rf)
	}
	start := -1
	if t != nil && len(t.Partitions) > 0 && len(t.Partitions[0].Replicas) > 0 {
		start = slices.Index(c.brokers, t.Partitions[0].Replicas[0])
	}
	var err error
	if start < 0 {
		if start, err = c.randomIndex(n); err != nil {
			return nil, newAPIError(kerr.UnknownServerError, "replica placement: %v", err)
		}
	}
	shift, err := c.randomIndex(n)
	if err != nil {
		return nil, newAPIError(kerr.UnknownServerError, "replica placement: %v", err)
	}
	return placeReplicas(c.brokers, from, count, rf, start, shift), nil
}

func (c *Controller) replicationTooHigh(rf int) *apiError {
	noun := "brokers"
	if len(c.brokers) == 1 {
		noun = "broker"
	}
	return newAPIError(kerr.InvalidReplicationFactor, "replication factor %d is larger than the %d available %s", rf, len(c.brokers), noun)
}

// replicaProblem says what is wrong with the replicas a request assigns to
// a partition, or "". rf is the replication factor they must match (0: any).
func (c *Controller) replicaProblem(replicas []int32, rf int) string {
	if len(c.brokers) == 1 && !(len(replicas) == 1 && replicas[0] == c.brokers[0]) {
		return fmt.Sprintf("this cluster has only broker %d", c.brokers[0])
	}
	switch {
	case len(replicas) == 0:
		return "no replicas are listed"
	case rf > 0 && len(replicas) != rf:
		return fmt.Sprintf("the replication factor is %d", rf)
	}
	for i, b := range replicas {
		if !slices.Contains(c.brokers, b) {
			return fmt.Sprintf("broker %d is not in the cluster (brokers %v)", b, c.brokers)
		}
		if slices.Contains(replicas[:i], b) {
			return fmt.Sprintf("broker %d is listed twice", b)
		}
	}
	return ""
}

// partitionRecords creates partitions from `from` on with the given
// replicas; the first replica leads and every replica is in sync.
func partitionRecords(id TopicID, from int32, replicas [][]int32) []MetadataRecord {
	out := make([]MetadataRecord, 0, len(replicas))
	for i, r := range replicas {
		out = append(out, PartitionRecord{TopicID: id, Partition: from + int32(i), Replicas: r, ISR: slices.Clone(r), Leader: r[0]})
	}
	return out
}

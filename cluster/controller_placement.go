package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// activeBroker says broker may lead and join ISRs in w: registered and
// active, or a static broker without a registration.
func (c *Controller) activeBroker(w *MetadataImage, broker int32) bool {
	if b, ok := w.Broker(broker); ok {
		return b.Active()
	}
	_, static := slices.BinarySearch(c.static, broker)
	return static
}

// knownBrokers are the registered brokers of w and the static ones, sorted:
// the brokers a replica assignment may name.
func (c *Controller) knownBrokers(w *MetadataImage) []int32 {
	out := slices.Clone(c.static)
	for b := range w.Brokers() {
		out = append(out, b.ID)
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// usableBrokers are the brokers new replicas go on: the active ones, in
// rack-alternated order.
func (c *Controller) usableBrokers(w *MetadataImage) []placementBroker {
	var out []placementBroker
	for b := range w.Brokers() {
		if b.Active() {
			out = append(out, placementBroker{id: b.ID, rack: b.RackName()})
		}
	}
	for _, id := range c.static {
		if _, registered := w.Broker(id); !registered {
			out = append(out, placementBroker{id: id})
		}
	}
	return rackAlternated(out)
}

// placement chooses the replicas of a topic's partitions from `from` to
// count over the usable brokers of w. A topic that has partitions goes on
// from where its partition 0's preferred leader sits; a new one starts at a
// random broker.
func (c *Controller) placement(w *MetadataImage, t *TopicImage, from, count int32, rf int) ([][]int32, *apiError) {
	brokers := c.usableBrokers(w)
	if aerr := replicationTooHigh(rf, len(brokers)); aerr != nil {
		return nil, aerr
	}
	start := -1
	if t != nil && len(t.Partitions) > 0 && len(t.Partitions[0].Replicas) > 0 {
		start = slices.IndexFunc(brokers, func(b placementBroker) bool { return b.id == t.Partitions[0].Replicas[0] })
	}
	var err error
	if start < 0 {
		if start, err = c.randomIndex(len(brokers)); err != nil {
			return nil, newAPIError(kerr.UnknownServerError, "replica placement: %v", err)
		}
	}
	shift, err := c.randomIndex(len(brokers))
	if err != nil {
		return nil, newAPIError(kerr.UnknownServerError, "replica placement: %v", err)
	}
	return placeReplicas(brokers, from, count, rf, start, shift), nil
}

// replicationTooHigh refuses a replication factor above the number of
// usable brokers, in Kafka's words.
func replicationTooHigh(rf, usable int) *apiError {
	switch {
	case usable == 0:
		return newAPIError(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): All brokers are currently fenced or in controlled shutdown.", rf)
	case rf > usable:
		return newAPIError(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are unfenced and not shutting down.", rf, rf, usable)
	}
	return nil
}

// replicaProblem says what is wrong with the replicas a request assigns to
// a partition, or "". rf is the replication factor they must match (0: any).
func (c *Controller) replicaProblem(w *MetadataImage, replicas []int32, rf int) string {
	known := c.knownBrokers(w)
	if len(known) == 1 && !(len(replicas) == 1 && replicas[0] == known[0]) {
		return fmt.Sprintf("this cluster has only broker %d", known[0])
	}
	switch {
	case len(replicas) == 0:
		return "no replicas are listed"
	case rf > 0 && len(replicas) != rf:
		return fmt.Sprintf("the replication factor is %d", rf)
	}
	for i, b := range replicas {
		if !slices.Contains(known, b) {
			return fmt.Sprintf("broker %d is not in the cluster (brokers %v)", b, known)
		}
		if slices.Contains(replicas[:i], b) {
			return fmt.Sprintf("broker %d is listed twice", b)
		}
	}
	if !slices.ContainsFunc(replicas, func(b int32) bool { return c.activeBroker(w, b) }) {
		return "every broker listed is fenced or in controlled shutdown"
	}
	return ""
}

// partitionRecords creates partitions from `from` on with the given
// replicas: the active replicas are the ISR and the first of them leads.
func (c *Controller) partitionRecords(w *MetadataImage, id TopicID, from int32, replicas [][]int32) []MetadataRecord {
	out := make([]MetadataRecord, 0, len(replicas))
	for i, r := range replicas {
		isr := slices.DeleteFunc(slices.Clone(r), func(b int32) bool { return !c.activeBroker(w, b) })
		leader := noBroker
		if len(isr) > 0 {
			leader = isr[0]
		}
		out = append(out, PartitionRecord{TopicID: id, Partition: from + int32(i), Replicas: r, ISR: isr, Leader: leader})
	}
	return out
}

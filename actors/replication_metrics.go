package actors

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/cluster"
)

// replicationMetrics are the node's replication health metrics, Kafka's
// UnderReplicatedPartitions, UnderMinIsrPartitionCount,
// AtMinIsrPartitionCount, OfflinePartitionsCount and IsrShrinks /
// IsrExpands: the gauges are read from the published image and routes at
// each scrape; the ISR counters count the ISR changes of partitions this
// node leads as their records apply.
type replicationMetrics struct {
	n                   *Node
	isrShrinks          prometheus.Counter
	isrExpands          prometheus.Counter
	underReplicatedDesc *prometheus.Desc
	underMinISRDesc     *prometheus.Desc
	atMinISRDesc        *prometheus.Desc
	offlineDesc         *prometheus.Desc
	offlineReplicasDesc *prometheus.Desc
}

func newReplicationMetrics(n *Node) *replicationMetrics {
	m := &replicationMetrics{n: n,
		isrShrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_isr_shrinks_total", Help: "ISR shrinks of partitions this node leads (a record with a smaller ISR in the same leader epoch)."}),
		isrExpands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_isr_expands_total", Help: "ISR expansions of partitions this node leads (a record with a larger ISR in the same leader epoch)."}),
		underReplicatedDesc: prometheus.NewDesc("gregor_under_replicated_partitions",
			"Partitions this node leads whose ISR is smaller than their replica set.", nil, nil),
		underMinISRDesc: prometheus.NewDesc("gregor_under_min_isr_partitions",
			"Partitions this node leads whose ISR is smaller than their min.insync.replicas: acks=all produce gets NOT_ENOUGH_REPLICAS.", nil, nil),
		atMinISRDesc: prometheus.NewDesc("gregor_at_min_isr_partitions",
			"Partitions this node leads whose ISR is exactly their min.insync.replicas: one more replica lost and acks=all produce stops.", nil, nil),
		offlineDesc: prometheus.NewDesc("gregor_offline_partitions",
			"Partitions of the cluster with no leader, as this node's metadata image has them.", nil, nil),
		offlineReplicasDesc: prometheus.NewDesc("gregor_offline_replicas",
			"Replicas the image assigns this node whose partition actor is not running (a corrupt or failing log).", nil, nil),
	}
	n.metrics.registry.MustRegister(m.isrShrinks, m.isrExpands, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *replicationMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.underReplicatedDesc
	ch <- m.underMinISRDesc
	ch <- m.atMinISRDesc
	ch <- m.offlineDesc
	ch <- m.offlineReplicasDesc
}

// Collect implements prometheus.Collector over the routes the router reads.
func (m *replicationMetrics) Collect(ch chan<- prometheus.Metric) {
	rt := m.n.routes.load()
	minISR := func(t *cluster.TopicImage) int {
		return minInsyncReplicas(t, m.n.brokerConfigs(rt.image))
	}
	h := replicationHealthOf(rt.image, m.n.cfg.NodeID, minISR, func(topic string, p int32) bool { return rt.partition(topic, p) != nil })
	ch <- prometheus.MustNewConstMetric(m.underReplicatedDesc, prometheus.GaugeValue, float64(h.underReplicated))
	ch <- prometheus.MustNewConstMetric(m.underMinISRDesc, prometheus.GaugeValue, float64(h.underMinISR))
	ch <- prometheus.MustNewConstMetric(m.atMinISRDesc, prometheus.GaugeValue, float64(h.atMinISR))
	ch <- prometheus.MustNewConstMetric(m.offlineDesc, prometheus.GaugeValue, float64(h.offline))
	ch <- prometheus.MustNewConstMetric(m.offlineReplicasDesc, prometheus.GaugeValue, float64(h.offlineReplicas))
}

// replicationHealth counts an image's partitions by their health as seen
// from one node.
type replicationHealth struct {
	underReplicated, underMinISR, atMinISR, offline, offlineReplicas int
}

// replicationHealthOf counts image's partitions: those self leads with a
// short ISR (shorter than the replica set; shorter than, or as short as,
// min.insync.replicas, which minISR gives per topic), those with no
// leader, and self's replicas that running says have no actor.
func replicationHealthOf(image *cluster.MetadataImage, self int32, minISR func(*cluster.TopicImage) int,
	running func(string, int32) bool) replicationHealth {
	var h replicationHealth
	for t := range image.Topics() {
		least := -1 // min.insync.replicas, resolved for the first partition self leads
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				h.offline++
			}
			if p.Leader == self {
				if least < 0 {
					least = minISR(t)
				}
				h.countLed(len(p.ISR), len(p.Replicas), least)
			}
			if slices.Contains(p.Replicas, self) && !running(t.Name, p.Partition) {
				h.offlineReplicas++
			}
		}
	}
	return h
}

// countLed counts a partition self leads by its ISR size against its
// replica set and its min.insync.replicas (Kafka's isUnderMinIsr and
// isAtMinIsr: an ISR of exactly min.insync.replicas is at the minimum even
// when that is the whole replica set).
func (h *replicationHealth) countLed(isr, replicas, minISR int) {
	if isr < replicas {
		h.underReplicated++
	}
	switch {
	case isr < minISR:
		h.underMinISR++
	case isr == minISR:
		h.atMinISR++
	}
}

// minInsyncReplicas is a topic's effective min.insync.replicas.
func minInsyncReplicas(t *cluster.TopicImage, broker cluster.BrokerConfigs) int {
	v, _ := cluster.TopicConfigValue(t, broker, "min.insync.replicas")
	n, err := strconv.Atoi(v)
	if err != nil {
		def, _ := cluster.TopicConfigDefault("min.insync.replicas")
		n, _ = strconv.Atoi(def)
	}
	return n
}

// imageApplied counts the ISR shrinks and expansions between two images of
// the partitions self leads in both, in one leader epoch.
func (m *replicationMetrics) imageApplied(old, next *cluster.MetadataImage, self int32) {
	shrinks, expands := isrChanges(old, next, self)
	m.isrShrinks.Add(float64(shrinks))
	m.isrExpands.Add(float64(expands))
}

// isrChanges counts the partitions self leads in old and next, in the same
// leader epoch, whose ISR shrank and grew.
func isrChanges(old, next *cluster.MetadataImage, self int32) (shrinks, expands int) {
	if old == nil || next == nil || old == next {
		return 0, 0
	}
	for t := range next.Topics() {
		before, ok := old.TopicByID(t.ID)
		if !ok || before == t {
			continue
		}
		for i, p := range t.Partitions {
			if p.Leader != self || i >= len(before.Partitions) {
				continue
			}
			q := before.Partitions[i]
			if q.Leader != self || q.LeaderEpoch != p.LeaderEpoch || q.PartitionEpoch == p.PartitionEpoch {
				continue
			}
			switch {
			case len(p.ISR) < len(q.ISR):
				shrinks++
			case len(p.ISR) > len(q.ISR):
				expands++
			}
		}
	}
	return shrinks, expands
}

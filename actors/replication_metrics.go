package actors

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/cluster"
)

// replicationMetrics are the node's replication health metrics, Kafka's
// UnderReplicatedPartitions, OfflinePartitionsCount and IsrShrinks /
// IsrExpands: the gauges are read from the published image and routes at
// each scrape; the ISR counters count the ISR changes of partitions this
// node leads as their records apply.
type replicationMetrics struct {
	n                   *Node
	isrShrinks          prometheus.Counter
	isrExpands          prometheus.Counter
	underReplicatedDesc *prometheus.Desc
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
	ch <- m.offlineDesc
	ch <- m.offlineReplicasDesc
}

// Collect implements prometheus.Collector over the routes the router reads.
func (m *replicationMetrics) Collect(ch chan<- prometheus.Metric) {
	rt := m.n.routes.load()
	h := replicationHealthOf(rt.image, m.n.cfg.NodeID, func(topic string, p int32) bool { return rt.partition(topic, p) != nil })
	ch <- prometheus.MustNewConstMetric(m.underReplicatedDesc, prometheus.GaugeValue, float64(h.underReplicated))
	ch <- prometheus.MustNewConstMetric(m.offlineDesc, prometheus.GaugeValue, float64(h.offline))
	ch <- prometheus.MustNewConstMetric(m.offlineReplicasDesc, prometheus.GaugeValue, float64(h.offlineReplicas))
}

// replicationHealth counts an image's partitions by their health as seen
// from one node.
type replicationHealth struct {
	underReplicated, offline, offlineReplicas int
}

// replicationHealthOf counts image's partitions: those self leads with a
// short ISR, those with no leader, and self's replicas that running says
// have no actor.
func replicationHealthOf(image *cluster.MetadataImage, self int32, running func(string, int32) bool) replicationHealth {
	var h replicationHealth
	for t := range image.Topics() {
		for _, p := range t.Partitions {
			switch {
			case p.Leader < 0:
				h.offline++
			case p.Leader == self && len(p.ISR) < len(p.Replicas):
				h.underReplicated++
			}
			if slices.Contains(p.Replicas, self) && !running(t.Name, p.Partition) {
				h.offlineReplicas++
			}
		}
	}
	return h
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

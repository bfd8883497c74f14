package actors

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gregor/logstore"
)

// groupMetrics are the group coordinators' metrics: rebalances counted as
// they complete, and, read from the coordinators at each scrape, the groups
// by state and each group's lag per partition (high watermark minus
// committed offset).
type groupMetrics struct {
	g           *groupNode
	rebalances  prometheus.Counter
	groupsDesc  *prometheus.Desc
	lagDesc     *prometheus.Desc
	membersDesc *prometheus.Desc
}

// groupSnapshotTimeout bounds how long a scrape waits for a coordinator.
const groupSnapshotTimeout = 2 * time.Second

func newGroupMetrics(g *groupNode) *groupMetrics {
	m := &groupMetrics{g: g,
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_group_rebalances_total", Help: "Group rebalances completed (classic generations, consumer group epochs)."}),
		groupsDesc:  prometheus.NewDesc("gregor_groups", "Groups this node coordinates, by type and state.", []string{"type", "state"}, nil),
		membersDesc: prometheus.NewDesc("gregor_group_members", "Members of each group this node coordinates.", []string{"group"}, nil),
		lagDesc: prometheus.NewDesc("gregor_group_lag", "Consumer lag: the partition's high watermark minus the group's committed offset.",
			[]string{"group", "topic", "partition"}, nil),
	}
	g.n.metrics.registry.MustRegister(m.rebalances, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *groupMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.groupsDesc
	ch <- m.membersDesc
	ch <- m.lagDesc
}

// Collect implements prometheus.Collector: it asks every coordinator of the
// node for its groups and offsets (a coordinator that does not answer in
// time is left out).
func (m *groupMetrics) Collect(ch chan<- prometheus.Metric) {
	type key struct{ typ, state string }
	counts := map[key]int{}
	for _, pid := range *m.g.coordinators.Load() {
		res, err := m.g.n.system.Root.RequestFuture(pid, &groupSnapshot{}, groupSnapshotTimeout).Result()
		snap, ok := res.(*groupSnapshotResult)
		if err != nil || !ok {
			continue
		}
		for _, gs := range snap.groups {
			counts[key{gs.Type, gs.State}]++
			ch <- prometheus.MustNewConstMetric(m.membersDesc, prometheus.GaugeValue, float64(gs.Members), gs.Group)
		}
		for _, o := range snap.offsets {
			hw, ok := m.g.n.highWatermarks.highWatermarkOf(logstore.TopicPartition{Topic: o.Topic, Partition: o.Partition})
			if !ok {
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, float64(max(hw-o.Offset, 0)),
				o.Group, o.Topic, strconv.Itoa(int(o.Partition)))
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.groupsDesc, prometheus.GaugeValue, float64(n), k.typ, k.state)
	}
}

// highWatermarkOf is the high watermark a partition hosted here last
// published.
func (h *highWatermarkCheckpoint) highWatermarkOf(tp logstore.TopicPartition) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hw, ok := h.published[tp]
	if !ok {
		return 0, false
	}
	return hw.Load(), true
}

package actors

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
)

// offlineReplicasChanged hands the broker lifecycle the directory ids
// (cluster.PartitionDirectoryID) of the node's offline replicas, which its
// heartbeats report to the controller in OfflineLogDirs so that it moves
// those partitions' leadership and ISR away from this node.
type offlineReplicasChanged struct{ dirs [][16]byte }

// offlineRetryDue tells the replica manager that an offline replica's
// retry may be due (cluster.OfflineReplicas decides which).
type offlineRetryDue struct{}

// retries is the node's record of its offline replicas.
func (m *replicaManager) retries() *cluster.OfflineReplicas {
	if m.offline == nil {
		m.offline = cluster.NewOfflineReplicas(cluster.OfflineReplicasOptions{})
	}
	return m.offline
}

// wentOffline records that a replica's actor stopped on a corrupt or failing
// log: its directory is reported offline, and it starts again when its
// backoff ends (offlineRetryDue), not on a change to its partition record.
func (m *replicaManager) wentOffline(ctx actor.Context, h *hostedReplica) {
	now := m.node.cfg.Clock.Now().MonoMs
	at := m.retries().WentOffline(cluster.OfflineReplicaID{TopicID: h.topicID, Partition: h.partition}, now, h.assignment.Load().image, m.node.cfg.NodeID)
	m.logger.Error("partition offline: its actor stopped", zap.String("topic", h.topic), zap.Int32("partition", h.partition),
		zap.Duration("starts_again_in", time.Duration(at-now)*time.Millisecond))
	m.reportOffline(ctx)
	m.armRetry(ctx)
}

// replicaOnline records that the node started a replica (removed: stopped
// hosting it), and reports the offline directories if it was offline.
func (m *replicaManager) replicaOnline(ctx actor.Context, topicID cluster.TopicID, partition int32, removed bool) {
	id, core := cluster.OfflineReplicaID{TopicID: topicID, Partition: partition}, m.retries()
	wasOffline := core.Offline(id)
	if removed {
		core.Removed(id)
	} else {
		core.Started(id, m.node.cfg.Clock.Now().MonoMs)
	}
	if wasOffline {
		m.reportOffline(ctx)
	}
}

// retryOffline starts the offline replicas whose backoff ended, from the
// partition's latest record.
func (m *replicaManager) retryOffline(ctx actor.Context) {
	m.retryTimer.fired()
	core, now := m.retries(), m.node.cfg.Clock.Now().MonoMs
	for _, id := range core.Due(now) {
		t, ok := m.image.TopicByID(id.TopicID)
		if !ok || int(id.Partition) >= len(t.Partitions) || !slices.Contains(t.Partitions[id.Partition].Replicas, m.node.cfg.NodeID) {
			m.replicaOnline(ctx, id.TopicID, id.Partition, true)
			continue
		}
		if m.slots.get(t.Name, id.Partition) != nil || m.data.busy(m.node.partitionDir(t.Name, id.Partition)) {
			m.replicaOnline(ctx, id.TopicID, id.Partition, false)
			continue
		}
		if !core.MayStart(id, now, t.Partitions[id.Partition], m.node.cfg.NodeID) {
			continue // the controller has not moved its leadership yet
		}
		m.logger.Info("starting an offline replica again", zap.String("topic", t.Name), zap.Int32("partition", id.Partition))
		m.start(ctx, cluster.LocalReplica{Topic: t.Name, TopicID: t.ID, Partition: t.Partitions[id.Partition]})
		m.publish()
	}
	m.armRetry(ctx)
}

// armRetry schedules offlineRetryDue for the next retry, if any.
func (m *replicaManager) armRetry(ctx actor.Context) {
	at, ok := m.retries().NextRetryMs()
	if !ok {
		return
	}
	root, self := m.node.system.Root, ctx.Self()
	m.retryTimer.armAt(at, m.node.cfg.Clock.Now().MonoMs, func() { root.Send(self, &offlineRetryDue{}) })
}

// reportOffline tells the broker lifecycle the offline directories (it
// reads them from the node when it starts later).
func (m *replicaManager) reportOffline(ctx actor.Context) {
	dirs := m.retries().Directories()
	m.node.offlineDirs.Store(&dirs)
	if lifecycle := m.node.lifecycle.Load(); lifecycle != nil {
		ctx.Send(lifecycle, &offlineReplicasChanged{dirs: dirs})
	}
}

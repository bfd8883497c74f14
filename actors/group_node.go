package actors

import (
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/groups"
)

// groupNode is the node's part in group coordination: the coordinator actor
// of every __consumer_offsets partition this node leads (started and
// stopped by the replica manager as leadership says), the creation of that
// topic when the first group request needs it, and the group metrics.
type groupNode struct {
	internalTopicCoordinators
	cfg     GroupConfig
	metrics *groupMetrics
}

func newGroupNode(n *Node) *groupNode {
	g := &groupNode{cfg: n.cfg.Groups.withDefaults()}
	g.setUp(n, groups.OffsetsTopic, "group", n.logger.Named("groups"), g.partitionStarted)
	g.metrics = newGroupMetrics(g)
	return g
}

// coordinatorFor returns the actor coordinating key, or nil when this node
// coordinates no such partition (or the topic does not exist yet).
func (g *groupNode) coordinatorFor(rt *routes, key string) *actor.PID {
	t, ok := rt.image.Topic(groups.OffsetsTopic)
	if !ok || t.PartitionCount() == 0 {
		return nil
	}
	return g.coordinator(groups.PartitionFor(key, t.PartitionCount()))
}

// partitionStarted is the replica manager's hook after it started a
// partition actor: a __consumer_offsets partition this node leads gets its
// coordinator, a child of the manager beside the partition.
func (g *groupNode) partitionStarted(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID) {
	if !g.leads(r) {
		return
	}
	p := r.Partition.Partition
	g.spawn(ctx, p, func() actor.Actor { return newGroupCoordinator(g, p, partitionPID) })
	g.logger.Info("group coordinator started", zap.Int32("partition", p))
}

// shutdown tells every coordinator that the node is stopping: requests
// waiting in a rebalance are answered NOT_COORDINATOR now (the members find
// the group's next coordinator), so they do not hold up the listener's
// graceful shutdown.
func (g *groupNode) shutdown() {
	for _, pid := range *g.coordinators.Load() {
		g.n.system.Root.Send(pid, &groupShutdown{})
	}
}

// createOffsetsTopic asks the controller to create __consumer_offsets (once
// at a time); done runs when the controller answered.
func (g *groupNode) createOffsetsTopic(done func()) {
	g.createTopic(g.cfg.OffsetsTopicPartitions, g.cfg.OffsetsTopicReplicationFactor, "offsets.topic.replication.factor", func(int16) [][2]string {
		return [][2]string{{"cleanup.policy", "compact"}, {"compression.type", "producer"},
			{"segment.bytes", strconv.Itoa(int(g.cfg.OffsetsTopicSegmentBytes))}}
	}, done)
}

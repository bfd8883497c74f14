package actors

import (
	"maps"
	"strconv"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/groups"
)

// groupNode is the node's part in group coordination: the coordinator actor
// of every __consumer_offsets partition this node leads (started and
// stopped by the replica manager as leadership says), the creation of that
// topic when the first group request needs it, and the group metrics.
type groupNode struct {
	n   *Node
	cfg GroupConfig
	// coordinators maps a __consumer_offsets partition to its coordinator
	// actor. Only the replica manager writes it (a copy each time); the
	// router reads it without locks.
	coordinators atomic.Pointer[map[int32]*actor.PID]
	// creating is set while a request to create __consumer_offsets is with
	// the controller.
	creating atomic.Bool
	// handOffs counts the coordinators' mailbox runs handed to workers
	// (each wakes a goroutine; a coordinator idle when a message comes
	// runs it on its sender when it may, coordinatorProps).
	handOffs atomic.Int64
	metrics  *groupMetrics
	logger   *zap.Logger
}

func newGroupNode(n *Node) *groupNode {
	g := &groupNode{n: n, cfg: n.cfg.Groups.withDefaults(), logger: n.logger.Named("groups")}
	g.coordinators.Store(&map[int32]*actor.PID{})
	g.metrics = newGroupMetrics(g)
	return g
}

// coordinator returns the actor coordinating partition, or nil.
func (g *groupNode) coordinator(partition int32) *actor.PID {
	return (*g.coordinators.Load())[partition]
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

func (g *groupNode) setCoordinator(partition int32, pid *actor.PID) {
	next := maps.Clone(*g.coordinators.Load())
	if pid == nil {
		delete(next, partition)
	} else {
		next[partition] = pid
	}
	g.coordinators.Store(&next)
}

// partitionStarted is the replica manager's hook after it started a
// partition actor: a __consumer_offsets partition this node leads gets its
// coordinator, a child of the manager beside the partition.
func (g *groupNode) partitionStarted(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID) {
	if r.Topic != groups.OffsetsTopic || r.Partition.Leader != g.n.cfg.NodeID {
		return
	}
	p := r.Partition.Partition
	if old := g.coordinator(p); old != nil {
		ctx.Stop(old)
	}
	pid := ctx.Spawn(coordinatorProps(func() actor.Actor {
		return newGroupCoordinator(g, p, partitionPID)
	}, countingDispatcher{Dispatcher: g.n.dispatcher, scheduled: &g.handOffs}))
	g.setCoordinator(p, pid)
	g.logger.Info("group coordinator started", zap.Int32("partition", p))
}

// partitionStopping is the replica manager's hook before it stops a
// partition actor (or when the partition's leader moved away): its
// coordinator stops too, and its groups are coordinated elsewhere.
func (g *groupNode) partitionStopping(ctx actor.Context, topic string, partition int32) {
	if topic != groups.OffsetsTopic {
		return
	}
	if pid := g.coordinator(partition); pid != nil {
		ctx.Stop(pid)
		g.setCoordinator(partition, nil)
		g.logger.Info("group coordinator stopped", zap.Int32("partition", partition))
	}
}

// leadershipChanged is the replica manager's hook for a partition whose
// record changed: the coordinator follows the leader.
func (g *groupNode) leadershipChanged(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID) {
	if r.Topic != groups.OffsetsTopic {
		return
	}
	leads := r.Partition.Leader == g.n.cfg.NodeID && partitionPID != nil
	switch running := g.coordinator(r.Partition.Partition) != nil; {
	case leads && !running:
		g.partitionStarted(ctx, r, partitionPID)
	case !leads && running:
		g.partitionStopping(ctx, r.Topic, r.Partition.Partition)
	}
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

// brokers is how many brokers can hold replicas: the live brokers this
// node's image knows (at least one).
func (g *groupNode) brokers() int { return max(1, len(g.n.liveBrokers(g.n.routes.load().image))) }

// createOffsetsTopic asks the controller to create __consumer_offsets (once
// at a time); done runs when the controller answered.
func (g *groupNode) createOffsetsTopic(done func()) {
	if !g.creating.CompareAndSwap(false, true) {
		done()
		return
	}
	rf := g.cfg.OffsetsTopicReplicationFactor
	if brokers := g.brokers(); int(rf) > brokers {
		g.logger.Warn("offsets.topic.replication.factor is above the brokers present: __consumer_offsets gets fewer replicas",
			zap.Int16("offsets_topic_replication_factor", rf), zap.Int("brokers", brokers))
		rf = int16(brokers)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = groups.OffsetsTopic, g.cfg.OffsetsTopicPartitions, rf
	for _, kv := range [][2]string{{"cleanup.policy", "compact"}, {"compression.type", "producer"},
		{"segment.bytes", strconv.Itoa(int(g.cfg.OffsetsTopicSegmentBytes))}} {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = kv[0], kmsg.StringPtr(kv[1])
		t.Configs = append(t.Configs, c)
	}
	req.Topics = append(req.Topics, t)
	g.n.sendToController(req, func(resp kmsg.Response, _ error) {
		g.creating.Store(false)
		if r, ok := resp.(*kmsg.CreateTopicsResponse); ok && len(r.Topics) == 1 && r.Topics[0].ErrorCode != 0 && r.Topics[0].ErrorMessage != nil {
			g.logger.Info("__consumer_offsets not created", zap.String("reason", *r.Topics[0].ErrorMessage))
		}
		done()
	})
}

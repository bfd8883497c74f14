package actors

import (
	"maps"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore/internaltopic"
)

// internalTopicCoordinators is what the group and the transaction
// coordination of a node have alike: a coordinator actor for each partition
// of their internal topic (__consumer_offsets, __transaction_state) that
// this node leads, started and stopped by the replica manager as leadership
// says, and the creation of that topic when the first request needs it.
type internalTopicCoordinators struct {
	n     *Node
	topic string
	// what names the coordinators in log lines ("group", "transaction").
	what string
	// start is the node's partitionStarted: it spawns a partition's
	// coordinator when leadership comes to this node.
	start func(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID)
	// coordinators maps a partition of topic to its coordinator actor.
	// Only the replica manager writes it (a copy each time); the router
	// reads it without locks.
	coordinators atomic.Pointer[map[int32]*actor.PID]
	// creating is set while a request to create topic is with the
	// controller.
	creating atomic.Bool
	// handOffs counts the coordinators' mailbox runs handed to workers
	// (each wakes a goroutine; a coordinator idle when a message comes
	// runs it on its sender when it may, coordinatorProps).
	handOffs atomic.Int64
	logger   *zap.Logger
}

// setUp sets c up, with no coordinator yet, for topic's coordinators (what
// names them in log lines); start is the node's partitionStarted.
func (c *internalTopicCoordinators) setUp(n *Node, topic, what string, logger *zap.Logger,
	start func(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID)) {
	c.n, c.topic, c.what, c.logger, c.start = n, topic, what, logger, start
	c.coordinators.Store(&map[int32]*actor.PID{})
}

// coordinator returns the actor coordinating partition, or nil.
func (c *internalTopicCoordinators) coordinator(partition int32) *actor.PID {
	return (*c.coordinators.Load())[partition]
}

func (c *internalTopicCoordinators) setCoordinator(partition int32, pid *actor.PID) {
	next := maps.Clone(*c.coordinators.Load())
	if pid == nil {
		delete(next, partition)
	} else {
		next[partition] = pid
	}
	c.coordinators.Store(&next)
}

// now is the time of the node's clock, as a coordinator core is handed it.
func (c *internalTopicCoordinators) now() internaltopic.Time {
	now := c.n.cfg.Clock.Now()
	return internaltopic.Time{WallMs: now.WallMs, MonoMs: now.MonoMs}
}

// leads says whether r is a partition of the topic that this node leads.
func (c *internalTopicCoordinators) leads(r cluster.LocalReplica) bool {
	return r.Topic == c.topic && r.Partition.Leader == c.n.cfg.NodeID
}

// spawn starts partition's coordinator, made by newActor, as a child of
// ctx (the replica manager, beside the partition), in place of the one
// before it.
func (c *internalTopicCoordinators) spawn(ctx actor.Context, partition int32, newActor func() actor.Actor) {
	if old := c.coordinator(partition); old != nil {
		ctx.Stop(old)
	}
	pid := ctx.Spawn(coordinatorProps(newActor, countingDispatcher{Dispatcher: c.n.dispatcher, scheduled: &c.handOffs}))
	c.setCoordinator(partition, pid)
}

// partitionStopping is the replica manager's hook before it stops a
// partition actor (or when the partition's leader moved away): its
// coordinator stops too, and what it coordinated is coordinated elsewhere.
func (c *internalTopicCoordinators) partitionStopping(ctx actor.Context, topic string, partition int32) {
	if topic != c.topic {
		return
	}
	if pid := c.coordinator(partition); pid != nil {
		ctx.Stop(pid)
		c.setCoordinator(partition, nil)
		c.logger.Info(c.what+" coordinator stopped", zap.Int32("partition", partition))
	}
}

// leadershipChanged is the replica manager's hook for a partition whose
// record changed: the coordinator follows the leader.
func (c *internalTopicCoordinators) leadershipChanged(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID) {
	if r.Topic != c.topic {
		return
	}
	leads := r.Partition.Leader == c.n.cfg.NodeID && partitionPID != nil
	switch running := c.coordinator(r.Partition.Partition) != nil; {
	case leads && !running:
		c.start(ctx, r, partitionPID)
	case !leads && running:
		c.partitionStopping(ctx, r.Topic, r.Partition.Partition)
	}
}

// brokers is how many brokers can hold replicas: the live brokers this
// node's image knows (at least one).
func (c *internalTopicCoordinators) brokers() int {
	return max(1, len(c.n.liveBrokers(c.n.routes.load().image)))
}

// createTopic asks the controller to create the topic (once at a time)
// with partitions and configs, and replicationFactor replicas or as many
// as there are brokers (the setting rfKey names is then logged as too
// high); done runs when the controller answered.
func (c *internalTopicCoordinators) createTopic(partitions int32, replicationFactor int16, rfKey string, configs func(rf int16) [][2]string, done func()) {
	if !c.creating.CompareAndSwap(false, true) {
		done()
		return
	}
	rf := replicationFactor
	if brokers := c.brokers(); int(rf) > brokers {
		c.logger.Warn(rfKey+" is above the brokers present: "+c.topic+" gets fewer replicas",
			zap.Int16("replication_factor", rf), zap.Int("brokers", brokers))
		rf = int16(brokers)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = c.topic, partitions, rf
	for _, kv := range configs(rf) {
		tc := kmsg.NewCreateTopicsRequestTopicConfig()
		tc.Name, tc.Value = kv[0], kmsg.StringPtr(kv[1])
		t.Configs = append(t.Configs, tc)
	}
	req.Topics = append(req.Topics, t)
	c.n.sendToController(req, func(resp kmsg.Response, _ error) {
		c.creating.Store(false)
		if r, ok := resp.(*kmsg.CreateTopicsResponse); ok && len(r.Topics) == 1 && r.Topics[0].ErrorCode != 0 && r.Topics[0].ErrorMessage != nil {
			c.logger.Info(c.topic+" not created", zap.String("reason", *r.Topics[0].ErrorMessage))
		}
		done()
	})
}

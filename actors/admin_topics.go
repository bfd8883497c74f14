package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
)

// topicError is a Kafka error code with the message a client is shown.
type topicError struct {
	code int16
	msg  string
}

func (e *topicError) Error() string { return e.msg }

func newTopicError(err *kerr.Error, format string, args ...any) *topicError {
	return &topicError{code: err.Code, msg: fmt.Sprintf(format, args...)}
}

// newTopic validates a topic to create and returns its image.
func (c *controllerActor) newTopic(name string, partitions int32, replication int16, assignment []kmsg.CreateTopicsRequestTopicReplicaAssignment, configs map[string]string) (*cluster.TopicImage, *topicError) {
	if terr := c.checkNewTopicName(name); terr != nil {
		return nil, terr
	}
	if len(assignment) > 0 {
		if partitions != -1 || replication != -1 {
			return nil, newTopicError(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given for %q", name)
		}
		for i, a := range assignment {
			if a.Partition != int32(i) {
				return nil, newTopicError(kerr.InvalidReplicaAssignment, "replica assignment of %q must list partitions 0..%d in order", name, len(assignment)-1)
			}
			if len(a.Replicas) != 1 || a.Replicas[0] != c.node.cfg.NodeID {
				return nil, newTopicError(kerr.InvalidReplicaAssignment, "partition %d of %q is assigned to brokers %v; this cluster has only broker %d", i, name, a.Replicas, c.node.cfg.NodeID)
			}
		}
		partitions, replication = int32(len(assignment)), 1
	}
	if partitions == -1 {
		partitions = c.node.cfg.NumPartitions
	}
	if replication == -1 {
		replication = c.node.cfg.DefaultReplicationFactor
	}
	if partitions <= 0 {
		return nil, newTopicError(kerr.InvalidPartitions, "number of partitions must be larger than 0, got %d", partitions)
	}
	if partitions > maxPartitionsPerTopic {
		return nil, newTopicError(kerr.InvalidPartitions, "number of partitions %d is above this broker's limit of %d", partitions, maxPartitionsPerTopic)
	}
	if replication <= 0 {
		return nil, newTopicError(kerr.InvalidReplicationFactor, "replication factor must be larger than 0, got %d", replication)
	}
	if replication > 1 {
		return nil, newTopicError(kerr.InvalidReplicationFactor, "replication factor %d is larger than the 1 available broker", replication)
	}
	if terr := checkTopicConfigs(configs); terr != nil {
		return nil, terr
	}
	id, err := c.newTopicID()
	if err != nil {
		return nil, newTopicError(kerr.UnknownServerError, "topic id: %v", err)
	}
	return &cluster.TopicImage{Name: name, ID: id, Partitions: cluster.SingleNodePartitions(0, partitions, c.node.cfg.NodeID), ReplicationFactor: replication, Configs: configs}, nil
}

// maxPartitionsPerTopic bounds the partition actors one request can create.
const maxPartitionsPerTopic = 10_000

func (c *controllerActor) createTopics(ctx actor.Context, req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		var terr *topicError
		configs := map[string]string{}
		for _, cfg := range t.Configs {
			if cfg.Value == nil {
				terr = newTopicError(kerr.InvalidConfig, "config %s of topic %q has a null value", cfg.Name, t.Topic)
				break
			}
			configs[cfg.Name] = *cfg.Value
		}
		var topic *cluster.TopicImage
		switch {
		case terr != nil:
		case seen[t.Topic] > 1:
			terr = newTopicError(kerr.InvalidRequest, "topic %q is listed more than once", t.Topic)
		default:
			topic, terr = c.newTopic(t.Topic, t.NumPartitions, t.ReplicationFactor, t.ReplicaAssignment, configs)
		}
		if terr == nil && !req.ValidateOnly {
			if err := c.apply(cluster.TopicCreated{Topic: *topic}); err != nil {
				terr = newTopicError(kerr.KafkaStorageError, "persist topic %q: %v", t.Topic, err)
			} else {
				c.spawnPartitions(ctx, topic, 0)
				c.logger.Info("topic created", zap.String("topic", topic.Name), zap.Int32("partitions", topic.PartitionCount()), zap.String("topic_id", topic.ID.String()))
			}
		}
		if terr != nil {
			rt.ErrorCode, rt.ErrorMessage = terr.code, &terr.msg
		} else {
			rt.TopicID = topic.ID
			rt.NumPartitions, rt.ReplicationFactor = topic.PartitionCount(), topic.ReplicationFactor
			rt.Configs = createTopicsConfigs(c.node.topicConfigView(topic))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	c.publish()
	return resp
}

// autoCreate creates the topics that do not exist, with the broker defaults,
// as auto.create.topics.enable does.
func (c *controllerActor) autoCreate(ctx actor.Context, names []string) {
	created := false
	for _, name := range names {
		if _, ok := c.image.Topic(name); ok {
			continue
		}
		topic, terr := c.newTopic(name, -1, -1, nil, map[string]string{})
		if terr != nil {
			c.logger.Info("topic not auto-created", zap.String("topic", name), zap.String("reason", terr.msg))
			continue
		}
		if err := c.apply(cluster.TopicCreated{Topic: *topic}); err != nil {
			c.logger.Error("persist auto-created topic", zap.String("topic", name), zap.Error(err))
			continue
		}
		c.spawnPartitions(ctx, topic, 0)
		created = true
		c.logger.Info("topic auto-created", zap.String("topic", name), zap.Int32("partitions", topic.PartitionCount()))
	}
	if created {
		c.publish()
	}
}

func (c *controllerActor) deleteTopics(ctx actor.Context, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	// v0–v5 name topics in TopicNames, v6 in Topics (by name or id).
	type target struct {
		name *string
		id   cluster.TopicID
	}
	var targets []target
	for _, n := range req.TopicNames {
		targets = append(targets, target{name: kmsg.StringPtr(n)})
	}
	for _, t := range req.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}
	for _, tg := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = tg.name, tg.id
		var topic *cluster.TopicImage
		var ok bool
		if tg.name != nil {
			topic, ok = c.image.Topic(*tg.name)
		} else {
			topic, ok = c.image.TopicByID(tg.id)
		}
		switch {
		case !c.node.cfg.DeleteTopicEnable:
			rt.ErrorCode = kerr.TopicDeletionDisabled.Code
		case !ok && tg.name == nil:
			rt.ErrorCode = kerr.UnknownTopicID.Code
		case !ok:
			rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			rt.Topic, rt.TopicID = kmsg.StringPtr(topic.Name), topic.ID
			if err := c.apply(cluster.TopicDeleted{Topic: topic.Name}); err != nil {
				rt.ErrorCode = kerr.KafkaStorageError.Code
				msg := err.Error()
				rt.ErrorMessage = &msg
				break
			}
			c.stopPartitions(ctx, topic.Name)
			c.logger.Info("topic deleted", zap.String("topic", topic.Name))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	c.publish()
	return resp
}

// stopPartitions stops a deleted topic's partition actors; their directories
// are removed when the last one has stopped.
func (c *controllerActor) stopPartitions(ctx actor.Context, topic string) {
	for _, pid := range c.partitions[topic] {
		if pid == nil {
			continue
		}
		c.stopping[pid.Id] = topic
		c.pendingDeletes[topic]++
		ctx.Stop(pid)
	}
	delete(c.partitions, topic)
	if c.pendingDeletes[topic] == 0 {
		delete(c.pendingDeletes, topic)
		c.removeTopicData(topic)
	}
}

func (c *controllerActor) createPartitions(ctx actor.Context, req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		terr := c.addPartitions(ctx, t, req.ValidateOnly)
		if terr != nil {
			rt.ErrorCode, rt.ErrorMessage = terr.code, &terr.msg
		}
		resp.Topics = append(resp.Topics, rt)
	}
	c.publish()
	return resp
}

func (c *controllerActor) addPartitions(ctx actor.Context, t kmsg.CreatePartitionsRequestTopic, validateOnly bool) *topicError {
	topic, ok := c.image.Topic(t.Topic)
	if !ok {
		return newTopicError(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
	}
	if _, deleting := c.pendingDeletes[t.Topic]; deleting {
		return newTopicError(kerr.UnknownTopicOrPartition, "topic %q is being deleted", t.Topic)
	}
	current := topic.PartitionCount()
	switch {
	case t.Count < current:
		return newTopicError(kerr.InvalidPartitions, "topic %q has %d partitions, which is higher than the requested %d", t.Topic, current, t.Count)
	case t.Count == current:
		return newTopicError(kerr.InvalidPartitions, "topic %q already has %d partitions", t.Topic, t.Count)
	case t.Count > maxPartitionsPerTopic:
		return newTopicError(kerr.InvalidPartitions, "number of partitions %d is above this broker's limit of %d", t.Count, maxPartitionsPerTopic)
	case t.Assignment != nil && len(t.Assignment) != int(t.Count-current):
		return newTopicError(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(t.Assignment), t.Count-current)
	}
	for _, a := range t.Assignment {
		if len(a.Replicas) != 1 || a.Replicas[0] != c.node.cfg.NodeID {
			return newTopicError(kerr.InvalidReplicaAssignment, "replicas %v: this cluster has only broker %d", a.Replicas, c.node.cfg.NodeID)
		}
	}
	if validateOnly {
		return nil
	}
	from := current
	if err := c.apply(cluster.PartitionsCreated{Topic: t.Topic, Partitions: cluster.SingleNodePartitions(current, t.Count, c.node.cfg.NodeID)}); err != nil {
		return newTopicError(kerr.KafkaStorageError, "persist partitions of %q: %v", t.Topic, err)
	}
	grown, _ := c.image.Topic(t.Topic)
	c.spawnPartitions(ctx, grown, from)
	c.logger.Info("partitions created", zap.String("topic", t.Topic), zap.Int32("partitions", t.Count))
	return nil
}

// checkNewTopicName applies Kafka's name rules and refuses names that exist,
// collide with an existing one ('.' and '_' are the same in metric names), or
// whose deletion is still under way.
func (c *controllerActor) checkNewTopicName(name string) *topicError {
	if err := cluster.ValidateTopicName(name); err != nil {
		return newTopicError(kerr.InvalidTopicException, "%v", err)
	}
	if _, ok := c.image.Topic(name); ok {
		return newTopicError(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if _, deleting := c.pendingDeletes[name]; deleting {
		return newTopicError(kerr.TopicAlreadyExists, "topic %q is being deleted; try again shortly", name)
	}
	for _, other := range c.image.TopicNames() {
		if cluster.TopicNamesCollide(name, other) {
			return newTopicError(kerr.InvalidTopicException, "topic %q collides with existing topic %q: '.' and '_' are interchangeable in metric names", name, other)
		}
	}
	return nil
}

package actors

import (
	"errors"
	"io"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// controllerActor is the node's singleton controller: it owns the metadata
// image (in a durable file of its own until clustering moves it into Raft),
// applies topic changes, and supervises one actor per partition.
type controllerActor struct {
	node           *Node
	image          *cluster.MetadataImage
	partitions     map[string][]*actor.PID
	pendingDeletes map[string]int    // topic → partition actors still stopping
	stopping       map[string]string // stopping partition actor id → topic
	shuttingDown   bool
	logger         *zap.Logger
}

// adminRequest carries a request that changes metadata to the controller.
type adminRequest struct {
	body    kmsg.Request
	version int16
	respond func(kmsg.Response)
}

// autoCreateTopics asks the controller to create the named topics with the
// broker defaults if they do not exist; done runs after the attempt.
type autoCreateTopics struct {
	topics []string
	done   func()
}

// partitionSupervisor restarts a partition actor that panicked (it rebuilds
// its state from the log) and stops one whose log is corrupt or unusable, which
// marks the partition offline instead of looping.
func partitionSupervisor() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(3, 10*time.Second, func(reason interface{}) actor.Directive {
		if err, ok := reason.(error); ok && (errors.Is(err, logstore.ErrCorruption) || errors.Is(err, errPartitionUnusable)) {
			return actor.StopDirective
		}
		return actor.RestartDirective
	})
}

func (n *Node) startController(image *cluster.MetadataImage) error {
	props := actor.PropsFromProducer(func() actor.Actor {
		return &controllerActor{node: n, image: image, logger: n.logger.Named("controller")}
	}, actor.WithSupervisor(partitionSupervisor()))
	pid, err := n.system.Root.SpawnNamed(props, "controller")
	if err != nil {
		return err
	}
	n.controller = pid
	// Wait until every partition actor is spawned, so the first request
	// already sees them.
	_, err = n.system.Root.RequestFuture(pid, &controllerReady{}, time.Minute).Result()
	return err
}

// controllerReady is answered once the controller has started its partitions.
type controllerReady struct{}

// Receive implements actor.Actor.
func (c *controllerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.partitions = map[string][]*actor.PID{}
		c.pendingDeletes = map[string]int{}
		c.stopping = map[string]string{}
		for _, name := range c.image.TopicNames() {
			t, _ := c.image.Topic(name)
			c.spawnPartitions(ctx, t, 0)
		}
		c.publish()
	case *controllerReady:
		ctx.Respond(msg)
	case *adminRequest:
		c.serveAdmin(ctx, msg)
	case *autoCreateTopics:
		c.autoCreate(ctx, msg.topics)
		msg.done()
	case *actor.Stopping:
		// Children stop with the controller; that is no partition failure.
		c.shuttingDown = true
	case *actor.Terminated:
		if !c.shuttingDown {
			c.partitionStopped(msg.Who)
		}
	}
}

func (c *controllerActor) serveAdmin(ctx actor.Context, msg *adminRequest) {
	switch req := msg.body.(type) {
	case *kmsg.CreateTopicsRequest:
		msg.respond(c.createTopics(ctx, req))
	case *kmsg.DeleteTopicsRequest:
		msg.respond(c.deleteTopics(ctx, req))
	case *kmsg.CreatePartitionsRequest:
		msg.respond(c.createPartitions(ctx, req))
	case *kmsg.AlterConfigsRequest:
		msg.respond(c.alterConfigs(ctx, req))
	case *kmsg.IncrementalAlterConfigsRequest:
		msg.respond(c.incrementalAlterConfigs(ctx, req))
	default:
		c.logger.Error("controller got a request it does not serve", zap.String("api", apiName(msg.body.Key())))
		msg.respond(nil)
	}
}

// apply persists rec's effect on the image and publishes new routes. The
// image file is written before anyone sees the change.
func (c *controllerActor) apply(rec cluster.MetadataRecord) error {
	next, err := c.image.Apply(rec)
	if err != nil {
		return err
	}
	if err := saveMetadataImage(c.node.cfg.FS, c.node.cfg.DataDir, next); err != nil {
		return err
	}
	c.image = next
	// Publish at once: partition actors spawned or told of a change next
	// read their topic's configs from the published image.
	c.publish()
	return nil
}

// publish makes the current image and partition actors visible to the router.
func (c *controllerActor) publish() {
	parts := make(map[string][]*actor.PID, len(c.partitions))
	for k, v := range c.partitions {
		parts[k] = append([]*actor.PID(nil), v...)
	}
	c.node.routes.store(&routes{image: c.image, partitions: parts})
}

// spawnPartitions starts the actors of t's partitions from index from on.
func (c *controllerActor) spawnPartitions(ctx actor.Context, t *cluster.TopicImage, from int32) {
	settings := c.node.topicSettings(c.image, t.Name)
	for _, part := range t.Partitions[from:] {
		pa := partitionAssignment{topic: t.Name, topicID: t.ID, image: part, settings: settings}
		props := actor.PropsFromProducer(func() actor.Actor {
			return newPartitionActor(c.node, pa)
		})
		pid := ctx.Spawn(props)
		ctx.Watch(pid)
		c.partitions[t.Name] = append(c.partitions[t.Name], pid)
	}
}

// partitionStopped handles the end of a partition actor: after a topic
// deletion, the topic's directories go once its last actor closed its log; any
// other stop (the supervisor gave up on a corrupt or failing log) marks the
// partition offline.
func (c *controllerActor) partitionStopped(who *actor.PID) {
	if topic, ok := c.stopping[who.Id]; ok {
		delete(c.stopping, who.Id)
		c.pendingDeletes[topic]--
		if c.pendingDeletes[topic] == 0 {
			delete(c.pendingDeletes, topic)
			c.removeTopicData(topic)
		}
		return
	}
	for topic, pids := range c.partitions {
		for p, pid := range pids {
			if pid != nil && pid.Id == who.Id {
				c.logger.Error("partition offline: its actor stopped", zap.String("topic", topic), zap.Int("partition", p))
				pids[p] = nil
				c.publish()
				return
			}
		}
	}
}

func (c *controllerActor) removeTopicData(topic string) {
	names, err := c.node.cfg.FS.ReadDir(c.node.cfg.DataDir)
	if err != nil {
		c.logger.Error("list log dir", zap.Error(err))
		return
	}
	for _, name := range names {
		if isPartitionDirOf(name, topic) {
			if err := c.node.cfg.FS.RemoveAll(c.node.cfg.DataDir + "/" + name); err != nil {
				c.logger.Error("remove partition directory", zap.String("dir", name), zap.Error(err))
			}
		}
	}
	if err := c.node.cfg.FS.SyncDir(c.node.cfg.DataDir); err != nil {
		c.logger.Error("sync log dir", zap.Error(err))
	}
	c.logger.Info("topic data removed", zap.String("topic", topic))
}

// isPartitionDirOf says whether a directory name is topic-N.
func isPartitionDirOf(name, topic string) bool {
	if len(name) <= len(topic)+1 || name[:len(topic)] != topic || name[len(topic)] != '-' {
		return false
	}
	for _, ch := range name[len(topic)+1:] {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

func (c *controllerActor) newTopicID() (cluster.TopicID, error) {
	var id cluster.TopicID
	_, err := io.ReadFull(c.node.cfg.Entropy, id[:])
	return id, err
}

// sortedKeys lists a map's keys in order, so output never depends on map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

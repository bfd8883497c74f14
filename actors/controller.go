package actors

import (
	"math"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
)

// controllerName is the controller actor's name in the actor system.
const controllerName = "controller"

// controllerActor is the node's singleton controller, a thin shell around
// cluster.Controller: it feeds the core each request that changes metadata,
// makes the records the core returns durable in the metadata log, applies
// them, and hands the new image to the replica manager. It answers a request
// once the routes include its change, so a client may produce right after
// CreateTopics succeeds.
type controllerActor struct {
	node  *Node
	store *metadataStore
	core  *cluster.Controller
	// pending are answers waiting for routes that include their epoch, in
	// epoch order.
	pending []pendingAnswer
	// published is the epoch of the latest image whose routes are
	// published.
	published int64
	logger    *zap.Logger
}

type pendingAnswer struct {
	epoch  int64
	answer func()
}

// adminRequest carries a request that changes metadata to the controller.
type adminRequest struct {
	body    kmsg.Request
	respond func(kmsg.Response)
}

// autoCreateTopics asks the controller to create the named topics with the
// broker defaults if they do not exist; done runs once the routes include
// them, or the attempt failed.
type autoCreateTopics struct {
	topics []string
	done   func()
}

// startController spawns the controller over the metadata log.
func (n *Node) startController(store *metadataStore) error {
	props := actor.PropsFromProducer(func() actor.Actor {
		return &controllerActor{node: n, store: store, logger: n.logger.Named("controller")}
	})
	pid, err := n.system.Root.SpawnNamed(props, controllerName)
	if err != nil {
		return err
	}
	n.controller = pid
	return nil
}

// Receive implements actor.Actor.
func (c *controllerActor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		cfg := c.node.cfg
		c.core = cluster.NewController(cluster.ControllerConfig{
			NodeID: cfg.NodeID, NumPartitions: cfg.NumPartitions, DefaultReplicationFactor: cfg.DefaultReplicationFactor,
			DeleteTopicEnable: cfg.DeleteTopicEnable, StaticBrokerConfigs: cfg.StaticBrokerConfigs, Entropy: cfg.Entropy,
			StaticBrokers: []int32{cfg.NodeID},
		})
		// A single node leads its one-voter metadata quorum from the start.
		c.core.BecomeLeader(c.store.image(), cfg.Clock.Now())
		c.published = c.store.image().Epoch
	case *adminRequest:
		respond := msg.respond
		if !c.core.Handle(c.node.cfg.Clock.Now(), msg.body, func(a cluster.ControllerAnswer) { respond(a.Response) }) {
			c.logger.Error("controller got a request it does not serve", zap.String("api", apiName(msg.body.Key())))
			msg.respond(nil)
			return
		}
		c.drive(ctx)
	case *autoCreateTopics:
		done := msg.done
		c.core.AutoCreateTopics(msg.topics, func(a cluster.ControllerAnswer) {
			for _, r := range a.Refused {
				c.logger.Info("topic not auto-created", zap.String("topic", r.Topic), zap.String("reason", r.Reason))
			}
			done()
		})
		c.drive(ctx)
	case *routesPublished:
		c.published = max(c.published, msg.epoch)
		c.answerUpTo(msg.epoch)
	case *topicDeletionCompleted:
		c.core.TopicDeletionCompleted(msg.topic, c.node.cfg.NodeID)
	case *replicaManagerRestarted:
		ctx.Request(c.node.replicaManager, &metadataImageApplied{image: c.core.Image()})
	case *actor.Stopping, *actor.Restarting:
		// Every pending change is committed: answer without the routes.
		c.answerUpTo(math.MaxInt64)
	}
}

// drive carries out what the core decided: each proposal is made durable
// in the metadata log and applied (or reported lost), the new image goes to
// the replica manager, and each answer goes out once the routes include
// what it reports.
func (c *controllerActor) drive(ctx actor.Context) {
	for rd := c.core.Ready(); !rd.Empty(); rd = c.core.Ready() {
		for _, p := range rd.Proposals {
			before := c.core.Image()
			if err := c.store.append(p.Batch.Records, p.Image); err != nil {
				c.logger.Error("metadata records not committed", zap.Error(err))
				c.core.Lost(p.Batch.Epoch, err)
				break
			}
			c.core.Committed(p.Batch.Epoch)
			logCommitted(c.logger, before, p.Image, p.Batch.Records)
			ctx.Request(c.node.replicaManager, &metadataImageApplied{image: p.Image})
		}
		for _, a := range rd.Answers {
			answer := a.Token.(func(cluster.ControllerAnswer))
			if a.ImageEpoch <= c.published {
				answer(a)
				continue
			}
			c.pending = append(c.pending, pendingAnswer{epoch: a.ImageEpoch, answer: func() { answer(a) }})
		}
	}
}

func (c *controllerActor) answerUpTo(epoch int64) {
	n := 0
	for n < len(c.pending) && c.pending[n].epoch <= epoch {
		c.pending[n].answer()
		n++
	}
	c.pending = c.pending[n:]
}

// logCommitted logs what committed records changed.
func logCommitted(logger *zap.Logger, before, after *cluster.MetadataImage, recs []cluster.MetadataRecord) {
	created, grown, configured := map[cluster.TopicID]bool{}, map[cluster.TopicID]bool{}, map[string]bool{}
	for _, rec := range recs {
		switch r := rec.(type) {
		case cluster.TopicRecord:
			created[r.TopicID] = true
			t, _ := after.TopicByID(r.TopicID)
			if t != nil {
				logger.Info("topic created", zap.String("topic", t.Name), zap.Int32("partitions", t.PartitionCount()), zap.String("topic_id", t.ID.String()))
			}
		case cluster.PartitionRecord:
			if t, ok := after.TopicByID(r.TopicID); ok && !created[r.TopicID] && !grown[r.TopicID] {
				grown[r.TopicID] = true
				logger.Info("partitions created", zap.String("topic", t.Name), zap.Int32("partitions", t.PartitionCount()))
			}
		case cluster.RemoveTopicRecord:
			if t, ok := before.TopicByID(r.TopicID); ok {
				logger.Info("topic deleted", zap.String("topic", t.Name))
			}
		case cluster.ConfigRecord:
			if key := r.ResourceName; !configured[key] && !created[topicIDOf(after, key)] {
				configured[key] = true
				if r.ResourceType == kmsg.ConfigResourceTypeBroker {
					logger.Info("broker configs changed")
				} else {
					logger.Info("topic configs changed", zap.String("topic", key))
				}
			}
		}
	}
}

func topicIDOf(m *cluster.MetadataImage, name string) cluster.TopicID {
	if t, ok := m.Topic(name); ok {
		return t.ID
	}
	return cluster.TopicID{}
}

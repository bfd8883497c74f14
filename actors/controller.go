package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/cluster/gossip"
	"gregor/cluster/quorum"
)

// controllerName is the controller actor's name in the actor system.
const controllerName = "controller"

// controllerActor is the node's controller, a thin shell around
// cluster.Controller. It runs on every controller-role node and is active
// only while the metadata quorum says this node leads (Leadership.Active):
// then it feeds the core each request, tick and membership hint, hands the
// records the core decides to the quorum actor, and answers a request once
// its records are committed (a request from this node once this node's
// routes include them too, so a client may produce right after
// CreateTopics). Inactive, the core answers NOT_CONTROLLER.
type controllerActor struct {
	node *Node
	core *cluster.Controller
	// image is the image as the quorum actor last applied it, from which
	// the core leads when the leadership turns active.
	image *cluster.MetadataImage
	// term is the leadership term the core leads in (or last led in);
	// session numbers its runs of proposals within the term: a lost batch
	// ends one (the core drops it and every later one).
	term, session uint64
	// pending are answers waiting for routes that include their epoch, in
	// epoch order; published is the epoch the routes include.
	pending   []pendingAnswer
	published int64
	timer     *time.Timer
	// askTimer asks the voters for their features again
	// (controller_voters.go).
	askTimer *time.Timer
	logger   *zap.Logger
}

type pendingAnswer struct {
	epoch  int64
	answer func()
}

// controllerRequest carries a request the controller serves. local says it
// comes from this node (a client of its broker, its broker lifecycle): the
// answer waits until this node's routes include what it reports.
type controllerRequest struct {
	body    kmsg.Request
	local   bool
	respond func(kmsg.Response)
}

// controllerTick wakes the controller at the core's next deadline.
type controllerTick struct{}

// membershipEvent is a gossip membership event, for the controller.
type membershipEvent struct{ event gossip.Event }

// Receive implements actor.Actor.
func (c *controllerActor) Receive(ctx actor.Context) {
	now := c.node.cfg.Clock.Now()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		c.logger = c.node.logger.Named("controller")
		c.image, c.published = cluster.NewMetadataImage(), -1
		cfg := c.node.cfg
		c.core = cluster.NewController(cluster.ControllerConfig{
			NodeID: cfg.NodeID, ClusterID: c.node.ClusterID(), NameCluster: true,
			NumPartitions: cfg.NumPartitions, DefaultReplicationFactor: cfg.DefaultReplicationFactor,
			DeleteTopicEnable: cfg.DeleteTopicEnable, Entropy: cfg.Entropy,
			StaticBrokerConfigs: cfg.StaticBrokerConfigs, BrokerConfigKeys: cfg.BrokerConfigKeys,
			BrokerSessionTimeoutMs: cfg.BrokerSessionTimeoutMs, BrokerHeartbeatIntervalMs: cfg.BrokerHeartbeatIntervalMs,
			AutoLeaderRebalanceEnable: cfg.AutoLeaderRebalanceEnable, LeaderImbalanceCheckIntervalMs: cfg.LeaderImbalanceCheckIntervalMs,
			BootstrapFeatures: cfg.Txns.bootstrapFeatures(), QuorumVoters: cfg.voterIDs(),
		})
	case *controllerRequest:
		token := &answerToken{local: msg.local, respond: msg.respond}
		c.core.LeadershipHolds(c.node.leadershipHold.Load())
		if !c.core.Handle(now, msg.body, token) {
			c.logger.Error("controller got a request it does not serve", zap.String("api", apiName(msg.body.Key())))
			msg.respond(nil)
			return
		}
	case *quorumUpdate:
		c.image = msg.image
		for _, r := range msg.committed {
			if c.core.Active() && r.term == c.term {
				c.core.Committed(r.epoch)
			}
		}
		if msg.leadership != nil {
			wasActive := c.core.Active()
			c.lead(*msg.leadership, now)
			if !wasActive && c.core.Active() {
				c.askVoterFeatures(ctx)
			}
		}
	case *proposalFailed:
		if c.core.Active() && msg.ref.term == c.term && msg.ref.session == c.session {
			c.logger.Warn("metadata records not committed", zap.Int64("offset", msg.ref.epoch), zap.Error(msg.err))
			c.core.Lost(msg.ref.epoch, msg.err)
			c.session++
		}
	case *controllerTick:
		c.core.Tick(now)
	case *membershipEvent:
		c.membership(msg.event, now)
	case *controllerConnsClosed:
		c.connsClosed(msg.node, now)
	case *routesPublished:
		c.published = max(c.published, msg.epoch)
		c.answerUpTo(msg.epoch)
		return
	case *askVoters:
		c.askVoterFeatures(ctx)
	case *voterFeatures:
		c.core.VoterFeatures(msg.voter, msg.features)
	case *actor.Stopping:
		c.core.ResignLeadership()
		c.node.controllerActive.Store(false)
		c.drive(ctx)
		c.answerUpTo(1 << 62)
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.askTimer != nil {
			c.askTimer.Stop()
		}
		return
	}
	c.drive(ctx)
}

// lead starts or stops the core as the quorum's leadership says. A term
// is led once: a core that resigned in a term never leads it again, so no
// batch of its earlier run can commit under a later one.
func (c *controllerActor) lead(l quorum.Leadership, now cluster.Instant) {
	switch {
	case l.Active && l.LeaderEpoch > c.term:
		c.core.BecomeLeader(c.image, now)
		c.term, c.session = l.LeaderEpoch, c.session+1
		c.node.controllerActive.Store(true)
		c.node.clusterMetrics.controllerActive.Set(1)
		c.logger.Info("became the active controller", zap.Uint64("leader_epoch", l.LeaderEpoch), zap.Int64("image_epoch", c.image.Epoch),
			zap.Int32("predecessor", l.Predecessor))
		if l.Predecessor >= 0 {
			c.core.Predecessor(now, l.Predecessor, l.PredecessorSinceMs)
		}
		c.replayConnsClosed(now)
		// Failures gossip reported while another node led (often the
		// failure of that node itself) are hints for this core too.
		if g := c.node.gossipStarted.Load(); g != nil {
			for _, m := range (*g).GoneMembers() {
				c.membership(gossip.Event{Kind: gossip.MemberFailed, Member: m}, now)
			}
		}
	case !l.Active && c.core.Active():
		c.core.ResignLeadership()
		c.node.controllerActive.Store(false)
		c.node.clusterMetrics.controllerActive.Set(0)
		c.logger.Info("no longer the active controller", zap.Int32("leader", l.LeaderID), zap.Uint64("leader_epoch", l.LeaderEpoch))
	}
}

// membership hands gossip's report of a failed or departed broker to the
// core as a hint.
func (c *controllerActor) membership(e gossip.Event, now cluster.Instant) {
	switch e.Kind {
	case gossip.MemberFailed, gossip.MemberLeft:
		c.logger.Info("gossip reports a broker gone", zap.Int32("broker", e.Member.NodeID), zap.Stringer("kind", e.Kind))
		c.core.BrokerFailed(e.Member.NodeID, now)
	case gossip.MemberJoined:
		c.logger.Debug("gossip reports a broker joined", zap.Int32("broker", e.Member.NodeID))
	case gossip.NameConflict:
		c.logger.Error("gossip: another node claims this node's id", zap.String("gossip_address", e.Member.GossipAddress))
	}
}

// answerToken is what the controller's answers carry back.
type answerToken struct {
	local   bool
	respond func(kmsg.Response)
}

// drive carries out what the core decided: each proposal goes to the
// quorum actor, each answer to its requester (a local one once the routes
// include what it reports).
func (c *controllerActor) drive(ctx actor.Context) {
	for rd := c.core.Ready(); !rd.Empty(); rd = c.core.Ready() {
		for _, p := range rd.Proposals {
			ref := proposalRef{term: c.term, session: c.session, epoch: p.Batch.Epoch}
			ctx.Send(c.node.quorum, &proposeMetadata{ref: ref, data: cluster.AppendMetadataBatch(nil, p.Batch)})
			if hook := c.node.cfg.testHooks.proposalSent; hook != nil {
				hook()
			}
		}
		for _, a := range rd.Answers {
			token, ok := a.Token.(*answerToken)
			if !ok {
				continue
			}
			if a.Reason != "" {
				c.logger.Info("controller refused a request", zap.String("reason", a.Reason))
			}
			resp := a.Response
			if !token.local || a.ImageEpoch <= c.published {
				token.respond(resp)
				continue
			}
			c.pending = append(c.pending, pendingAnswer{epoch: a.ImageEpoch, answer: func() { token.respond(resp) }})
		}
	}
	c.armTick(ctx)
}

func (c *controllerActor) answerUpTo(epoch int64) {
	n := 0
	for n < len(c.pending) && c.pending[n].epoch <= epoch {
		c.pending[n].answer()
		n++
	}
	c.pending = c.pending[n:]
}

// armTick sets the timer for the core's next deadline.
func (c *controllerActor) armTick(ctx actor.Context) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	deadline, ok := c.core.NextDeadline()
	if !ok {
		return
	}
	wait := time.Duration(deadline-c.node.cfg.Clock.Now().MonoMs) * time.Millisecond
	self, root := ctx.Self(), c.node.system.Root
	c.timer = time.AfterFunc(max(wait, 0), func() { root.Send(self, &controllerTick{}) })
}

// notControllerResponse answers a request for the controller that no
// active controller took.
func notControllerResponse(req kmsg.Request, msg string) kmsg.Response {
	return cluster.ControllerErrorResponse(req, kerr.NotController.Code, msg)
}

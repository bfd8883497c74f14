package actors

import (
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// brokerLifecycleName is the broker lifecycle actor's name.
const brokerLifecycleName = "broker-lifecycle"

// brokerLifecycleActor is a broker-role node's side of its registration
// with the controller, a thin shell around cluster.BrokerLifecycle: it
// sends what the core decides to the active controller (sendToController),
// ticks the core at its deadlines, tells it the metadata offset this node's
// routes include, tells the replica manager when the broker caught up with
// the metadata log (it starts the node's replicas then, and the core stops
// asking to stay fenced once they run), and reports what it became:
// unfenced (the node starts serving clients), failed (the node stops), or
// done with its controlled shutdown (the node stops).
type brokerLifecycleActor struct {
	node  *Node
	core  *cluster.BrokerLifecycle
	timer *time.Timer
	// call is the controller call of the core's last request.
	call *controllerCall
	// shutdownDone runs when the controlled shutdown is over.
	shutdownDone func()
	// markedEpoch is the broker epoch of the last running marker written
	// (logstore.WriteBrokerRunning), -1 before one.
	markedEpoch int64
	// unmarkedEpoch is the last epoch whose marker failed (warned once).
	unmarkedEpoch int64
	logger        *zap.Logger
}

// lifecycleAnswer is the answer to a request of the core's, and the node
// whose controller gave it (-1: none).
type lifecycleAnswer struct {
	req  kmsg.Request
	resp kmsg.Response
	err  error
	from int32
}

// quorumLeaderKnown says which node this node now knows to lead the
// metadata quorum (-1 while none): a heartbeat stuck at the one before is
// sent again, to it (cluster.BrokerLifecycle.QuorumLeader); and the offset
// past which no controller commits (its last leader resigned with no
// successor, or this node leads alone among stopping voters), -1 when a
// controller may (cluster.BrokerLifecycle.QuorumResigned).
type quorumLeaderKnown struct {
	leader         int32
	resignedOffset int64
}

// lifecycleTick wakes the lifecycle at the core's next deadline.
type lifecycleTick struct{}

// beginControlledShutdown asks for a controlled shutdown; done runs when it
// is over (or was given up).
type beginControlledShutdown struct{ done func() }

// Receive implements actor.Actor.
func (b *brokerLifecycleActor) Receive(ctx actor.Context) {
	now := b.node.cfg.Clock.Now()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		// Published before the node's state is read: what another actor
		// tells the node after it found no lifecycle (Node.lifecycle), the
		// state read here includes.
		b.node.lifecycle.Store(ctx.Self())
		b.logger = b.node.logger.Named("broker_lifecycle")
		b.markedEpoch, b.unmarkedEpoch = -1, -1
		b.core = cluster.NewBrokerLifecycle(b.node.lifecycleConfig())
		b.catchUp(now)
		b.core.Start(now)
	case *lifecycleAnswer:
		if msg.from == b.node.cfg.NodeID {
			b.core.AnsweredLocally(now, msg.req, msg.resp, msg.err)
		} else {
			b.core.AnsweredTo(now, msg.req, msg.resp, msg.err)
		}
	case *quorumLeaderKnown:
		b.core.QuorumLeader(now, msg.leader)
		b.core.QuorumResigned(now, msg.resignedOffset)
	case *lifecycleTick:
		b.core.Tick(now)
	case *caughtUpPublished:
		b.core.Published(now)
	case *routesPublished:
		b.core.SetClusterID(b.node.ClusterID())
		b.core.MetadataApplied(msg.epoch - 1)
		b.core.OtherBrokersActive(b.node.routes.load().image.ActiveBrokerOtherThan(b.node.cfg.NodeID))
	case *offlineReplicasChanged:
		b.core.SetOfflineDirectories(msg.dirs)
	case *beginControlledShutdown:
		b.shutdownDone = msg.done
		b.core.BeginControlledShutdown(now)
	case *actor.Stopping:
		if b.timer != nil {
			b.timer.Stop()
		}
		if b.core != nil && b.core.BrokerEpoch() >= 0 {
			b.node.stoppingEpoch.Store(b.core.BrokerEpoch())
		}
		if b.shutdownDone != nil {
			b.shutdownDone()
			b.shutdownDone = nil
		}
		return
	}
	b.drive(ctx, now)
}

// catchUp tells the core what the node knows: the cluster id, the metadata
// offset its routes include, the quorum's leader, the offline directories.
func (b *brokerLifecycleActor) catchUp(now cluster.Instant) {
	b.core.SetClusterID(b.node.ClusterID())
	image := b.node.routes.load().image
	b.core.MetadataApplied(image.LastOffset())
	b.core.OtherBrokersActive(image.ActiveBrokerOtherThan(b.node.cfg.NodeID))
	b.core.QuorumLeader(now, b.node.quorumLeader.Load())
	b.core.QuorumResigned(now, b.node.quorumResigned.Load())
	if dirs := b.node.offlineDirs.Load(); dirs != nil {
		b.core.SetOfflineDirectories(*dirs)
	}
}

// drive carries out what the core decided.
func (b *brokerLifecycleActor) drive(ctx actor.Context, now cluster.Instant) {
	b.node.publishLease(b.core.Lease())
	if epoch := b.core.BrokerEpoch(); epoch >= 0 && epoch != b.markedEpoch {
		// Registered: a crash from now on, without a reboot, loses
		// nothing the logs wrote. Until the marker is written (a full
		// disk), the core keeps the broker fenced; it is tried again at
		// every step.
		err := logstore.WriteBrokerRunning(b.node.cfg.FS, b.node.cfg.DataDir, epoch, b.node.cfg.BootID)
		if err == nil {
			b.markedEpoch = epoch
		} else if b.unmarkedEpoch != epoch {
			b.unmarkedEpoch = epoch
			b.logger.Warn("running marker not written: the broker stays fenced until it is", zap.Error(err))
		}
		b.core.RunningMarker(now, err == nil)
	}
	rd := b.core.Ready()
	if req := rd.Request; req != nil {
		// The core sends a request only once the last one was answered or
		// superseded: stop asking controllers for the last one's answer.
		if b.call != nil {
			b.call.cancel()
		}
		self, root := ctx.Self(), b.node.system.Root
		b.call = b.node.sendToControllerFrom(req, time.Duration(rd.TimeoutMs)*time.Millisecond, func(resp kmsg.Response, err error, from int32) {
			root.Send(self, &lifecycleAnswer{req: req, resp: resp, err: err, from: from})
		})
	}
	if rd.CaughtUp {
		b.logger.Info("caught up with the metadata log", zap.Int64("broker_epoch", b.core.BrokerEpoch()))
		ctx.Request(b.node.replicaManager, &publishCaughtUp{})
	}
	if rd.StateChanged {
		b.changed(rd.Reason)
	}
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if deadline, ok := b.core.NextDeadline(); ok {
		wait := time.Duration(deadline-b.node.cfg.Clock.Now().MonoMs) * time.Millisecond
		self, root := ctx.Self(), b.node.system.Root
		b.timer = time.AfterFunc(max(wait, 0), func() { root.Send(self, &lifecycleTick{}) })
	}
}

// changed reports the broker's new state.
func (b *brokerLifecycleActor) changed(reason string) {
	state := b.core.State()
	b.logger.Info("broker state", zap.Stringer("state", state), zap.String("reason", reason),
		zap.Int64("broker_epoch", b.core.BrokerEpoch()))
	b.node.clusterMetrics.brokerState(state)
	switch state {
	case cluster.BrokerRunning:
		b.node.unfence()
	case cluster.BrokerFailed:
		b.node.fail(b.core.Err())
	case cluster.BrokerShuttingDown:
		if b.shutdownDone != nil {
			b.shutdownDone()
			b.shutdownDone = nil
		}
	}
}

// lifecycleConfig is what the broker registers: its advertised listener
// (and its CONTROLLER listener, when it has one), rack and timings.
func (n *Node) lifecycleConfig() cluster.BrokerLifecycleConfig {
	cfg := n.cfg
	host, port := n.advertised()
	endpoints := []cluster.BrokerEndpoint{{Name: cfg.ListenerName, Host: host, Port: uint16(port)}}
	if n.controllerServer != nil {
		if addr, ok := n.controllerServer.Addr().(*net.TCPAddr); ok {
			chost, _, _ := net.SplitHostPort(cfg.ControllerListenAddress)
			if chost == "" || net.ParseIP(chost).IsUnspecified() {
				chost = host
			}
			endpoints = append(endpoints, cluster.BrokerEndpoint{Name: cfg.ControllerListenerName, Host: chost, Port: uint16(addr.Port)})
		}
	}
	var rack *string
	if cfg.Rack != "" {
		rack = &cfg.Rack
	}
	return cluster.BrokerLifecycleConfig{
		NodeID: cfg.NodeID, IncarnationID: n.incarnation, Listeners: endpoints, Rack: rack,
		HeartbeatIntervalMs: cfg.BrokerHeartbeatIntervalMs, SessionTimeoutMs: cfg.BrokerSessionTimeoutMs,
		PublishAfterCatchUp: true, PreviousBrokerEpoch: n.previousBrokerEpoch, WaitRunningMarker: true,
	}
}

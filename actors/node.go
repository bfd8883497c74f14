package actors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/logstore/blockcache"
	"gregor/netio"
)

// Node is one running gregor process: the composition root that owns the
// actor system, the metadata quorum (quorum.go) and, on a controller, the
// controller; on a broker, the broker lifecycle, the replica manager (and
// through it the partition actors) and the client listener; the CONTROLLER
// listener, gossip, and the metrics endpoint.
type Node struct {
	cfg         Config
	logger      *zap.Logger
	clusterID   atomic.Pointer[string]
	incarnation cluster.IncarnationID

	system     *actor.ActorSystem
	quorum     *actor.PID
	controller *actor.PID
	// lifecycle is the broker lifecycle's PID once the actor started (it
	// stores it), nil before: the actors running by then drop what they
	// would tell it, which it reads from the node as it starts.
	// protoactor lists a named actor before it sets up its mailbox and
	// posts Started: a message sent to the name in between panicked in
	// its sender (a nil dispatcher) or came before Started.
	lifecycle atomic.Pointer[actor.PID]
	// quorumStarted is set once the quorum actor started, for the replica
	// manager, which runs before it (see lifecycle).
	quorumStarted  atomic.Bool
	replicaManager *actor.PID
	// offlineDirs are the offline directories the replica manager last
	// reported, for the broker lifecycle (replica_offline.go).
	offlineDirs atomic.Pointer[[][16]byte]
	// lease is the broker's lease as the lifecycle last published it
	// (broker_lease.go).
	lease brokerLeaseState
	// spawned are the metadata actors started, by name.
	spawned map[string]bool
	routes  *routeTable
	cache   *blockcache.Cache[*logstore.Block]
	blocks  *logstore.BlockPool
	// held bounds the produce buffers the node's leaders hold for their
	// followers (partition_storage.go).
	held *logstore.HoldBudget
	// rawWrites lets the node's log appends write through raw system
	// calls while a slot is free (logstore.RawWriteSlots).
	rawWrites logstore.RawWriteSlots
	// fetchAnswers holds the buffers the node's replica fetchers read their
	// leaders' answers into, shared so a fetcher started again reuses them.
	fetchAnswers *netio.BufferPool
	// logOpens holds a slot for each partition log being opened that
	// needs no recovery (new, or closed cleanly; logOpenSlots of them),
	// logRecoveries one for each being recovered (LogRecoveryThreads):
	// partition_preload.go.
	logOpens         chan struct{}
	logRecoveries    chan struct{}
	brokerListener   net.Listener
	server           *netio.Server
	controllerServer *netio.Server
	// peerConns are the connections other nodes opened to the
	// CONTROLLER listener (controller_conns.go).
	peerConns   peerConns
	controllers *controllerClients
	gossip      Membership
	// gossipStarted holds gossip once it started, for the controller
	// actor, which may run before it does.
	gossipStarted atomic.Pointer[Membership]
	gossipStop    chan struct{}
	router        *router
	// fetchBoards are the partition actors' fetch views and parked
	// Fetches (fetch_board.go).
	fetchBoards    fetchBoards
	metrics        *nodeMetrics
	clusterMetrics *clusterMetrics
	// replicationMetrics are under-replicated and offline partitions and
	// ISR changes.
	replicationMetrics *replicationMetrics
	// httpServers serve metrics.listener and debug.listener.
	httpServers []*http.Server
	cleaner     *logCleaner
	// highWatermarks is the log directory's high watermark checkpoint.
	highWatermarks *highWatermarkCheckpoint
	// groups holds the group coordinators this node runs.
	groups *groupNode
	// txns holds the transaction coordinators this node runs.
	txns *txnNode
	// features caches what ApiVersions advertises of the image's feature
	// levels (api_features.go).
	features featureCache
	// dispatcher runs the mailboxes of the partition, group coordinator
	// and transaction coordinator actors on long-lived goroutines
	// (dispatcher.go).
	dispatcher *workerDispatcher
	// producerIDs is the node's block of producer ids (producer_ids.go).
	producerIDs producerIDBlock
	// produceQueues gather the produces for each partition actor, written
	// together (partition_produce_queue.go).
	produceQueues produceQueues
	// fetcherDir lists the running replica fetchers
	// (replica_fetcher_directory.go).
	fetcherDir fetcherDirectory

	// controllerActive says this node's controller leads; quorumLeader is
	// the quorum's leader as this node knows it (-1 unknown);
	// quorumResigned the offset past which no controller commits, as the
	// quorum actor last saw (-1: a controller may; quorum_stop.go).
	controllerActive atomic.Bool
	quorumLeader     atomic.Int32
	quorumResigned   atomic.Int64
	// leadershipHold is until when (monotonic ms) no other node can lead
	// the quorum, as the quorum actor last saw (0 when this node does not
	// lead): the controller grants broker leases only until then.
	leadershipHold atomic.Int64
	// stopping is set once the node's metadata actors stop: requests for
	// the controller are not retried any more.
	stopping atomic.Bool
	// previousBrokerEpoch is the broker epoch the previous process left in
	// the data directory's shutdown marker (logstore.TakeBrokerShutdown),
	// nil after an unclean shutdown; stoppingEpoch is the broker epoch of
	// this process's registration as its lifecycle stopped (-1: none),
	// which a graceful stop leaves in the marker.
	previousBrokerEpoch *int64
	stoppingEpoch       atomic.Int64

	// imagePublished is set once the replica manager handed a caught-up
	// image to the node's replicas (replica_manager_hold.go).
	imagePublished atomic.Bool

	unfenced    chan struct{}
	unfenceOnce sync.Once
	failed      chan struct{}
	failOnce    sync.Once
	failErr     error

	stopOnce sync.Once
	stopErr  error
	// logsClosed silences the node's loggers once it stopped (log_gate.go).
	logsClosed atomic.Bool
}

// Start opens the data directory, joins the metadata quorum, recovers the
// partitions the metadata assigns this node and, on a broker, registers
// with the active controller; it returns once the broker is unfenced and
// its client listener serves (a controller-only node: once it runs). It
// gives up, and stops the node, when ctx ends before the broker is
// unfenced: a node waits for a quorum of its voters.
func Start(ctx context.Context, cfg Config, logger *zap.Logger) (*Node, error) {
	cfg = cfg.withProcessDefaults().withClusterDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if err := cfg.FS.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir %s: %w", cfg.DataDir, err)
	}
	n := &Node{cfg: cfg, routes: newRouteTable(), unfenced: make(chan struct{}), failed: make(chan struct{}), spawned: map[string]bool{}}
	n.logger = gatedLogger(logger, &n.logsClosed).With(zap.Int32("node_id", cfg.NodeID))
	n.logOpens, n.logRecoveries = make(chan struct{}, logOpenSlots), make(chan struct{}, cfg.LogRecoveryThreads)
	n.quorumLeader.Store(-1)
	n.quorumResigned.Store(-1)
	n.controllers = &controllerClients{node: n}
	clusterID, err := readClusterID(cfg)
	if err != nil {
		return nil, err
	}
	n.setClusterID(clusterID)
	if err := n.takeShutdownMarker(); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(cfg.Entropy, n.incarnation[:]); err != nil {
		return nil, fmt.Errorf("incarnation id: %w", err)
	}
	n.metrics = newNodeMetrics()
	n.clusterMetrics = newClusterMetrics(n.metrics.registry)
	n.replicationMetrics = newReplicationMetrics(n)
	n.groups = newGroupNode(n)
	n.txns = newTxnNode(n)
	n.dispatcher = newWorkerDispatcher(actorThroughput)
	if err := n.start(ctx); err != nil {
		n.stop(context.Background(), false)
		return nil, err
	}
	fields := []zap.Field{zap.String("cluster_id", n.ClusterID()), zap.String("log_dir", cfg.DataDir),
		zap.Bool("broker", cfg.Roles.Broker), zap.Bool("controller", cfg.Roles.Controller)}
	if a := n.Addr(); a != nil {
		fields = append(fields, zap.String("listener", a.String()))
	}
	if a := n.ControllerAddr(); a != nil {
		fields = append(fields, zap.String("controller_listener", a.String()))
	}
	n.logger.Info("node started", fields...)
	return n, nil
}

// start brings the node up in order (see stop for the reverse).
func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	if cfg.CacheBytes > 0 {
		var err error
		if n.cache, err = blockcache.New[*logstore.Block](cfg.CacheBytes); err != nil {
			return fmt.Errorf("block cache: %w", err)
		}
		n.blocks = logstore.NewBlockPool(min(cfg.CacheBytes, maxFreeBlockBytes), cfg.poisonReleasedBuffers)
	}
	n.held = logstore.NewHoldBudget(maxHeldBytes)
	n.fetchAnswers = netio.NewBufferPool(fetchAnswerPoolBytes, cfg.poisonReleasedBuffers)
	opened, err := n.openQuorum()
	if err != nil {
		return err
	}
	n.system = newActorSystem(n.logger)
	n.system.EventStream.Subscribe(func(evt interface{}) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			answerUndelivered(dl.Message)
		}
	})
	// The metadata actors know each other by these from the start; what
	// reaches one before it is listed is answered as undelivered. Nothing
	// sends to one while it is being spawned (see lifecycle): the
	// controller runs before the quorum actor, the first to tell it
	// anything, and the quorum actor before anything but the replica
	// manager (quorumStarted) sends to it.
	n.quorum = n.system.NewLocalPID(quorumName)
	if cfg.Roles.Controller {
		n.controller = n.system.NewLocalPID(controllerName)
	}
	n.cleaner = newLogCleaner()
	n.highWatermarks = startHighWatermarkCheckpoint(cfg.FS, cfg.DataDir, cfg.HighWatermarkCheckpointIntervalMs, n.logger)
	if err := n.startReplicaManager(n.routes.load().image); err != nil {
		_ = opened.log.Close()
		return err
	}
	if err := n.startActors(opened); err != nil {
		return err
	}
	if err := n.startListeners(); err != nil {
		return err
	}
	if err := n.startGossip(); err != nil {
		return err
	}
	if err := n.startMetrics(); err != nil {
		return err
	}
	if !cfg.Roles.Broker {
		return nil
	}
	props := actor.PropsFromProducer(func() actor.Actor { return &brokerLifecycleActor{node: n} })
	if hook := cfg.lifecycleSpawning; hook != nil {
		props.Configure(actor.WithOnInit(func(actor.Context) { hook(n) }))
	}
	if _, err := n.system.Root.SpawnNamed(props, brokerLifecycleName); err != nil {
		return err
	}
	n.spawned[brokerLifecycleName] = true
	select {
	case <-n.unfenced:
	case <-n.failed:
		return n.failErr
	case <-ctx.Done():
		return fmt.Errorf("broker %d not unfenced by the controller: %w", cfg.NodeID, ctx.Err())
	}
	go func() {
		if err := n.server.Serve(n.brokerListener); err != nil && !errors.Is(err, netio.ErrServerClosed) {
			n.logger.Error("client listener stopped", zap.Error(err))
		}
	}()
	return nil
}

// Stop shuts the node down gracefully: the broker asks the controller for a
// controlled shutdown (its leadership moves away), stops accepting and
// finishes in-flight requests (until ctx ends), leaves gossip, hands the
// quorum's leadership to another voter, then stops every actor (each
// partition flushes and leaves its clean-shutdown marker) and closes the
// cache.
func (n *Node) Stop(ctx context.Context) error {
	n.stop(ctx, true)
	return n.stopErr
}

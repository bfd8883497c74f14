package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/logstore"
	"gregor/logstore/blockcache"
	"gregor/logstore/vfs"
	"gregor/netio"
)

// Node is one running broker: the composition root that owns the actor
// system, the metadata log, the controller, the replica manager (and through
// it the partition actors), the protocol server and the metrics endpoint.
type Node struct {
	cfg       Config
	logger    *zap.Logger
	clusterID string

	system         *actor.ActorSystem
	controller     *actor.PID
	replicaManager *actor.PID
	metadata       *metadataStore
	routes         *routeTable
	cache          *blockcache.Cache[*logstore.Block]
	blocks         *logstore.BlockPool
	server         *netio.Server
	router         *router
	metrics        *nodeMetrics
	// httpServers serve metrics.listener and debug.listener.
	httpServers []*http.Server
	cleaner     *logCleaner
	// highWatermarks is the log directory's high watermark checkpoint.
	highWatermarks *highWatermarkCheckpoint
	// groups holds the group coordinators this node runs.
	groups *groupNode

	stopOnce sync.Once
	stopErr  error
}

// Start opens the data directory, recovers every partition and starts
// serving. It returns once the listener is bound.
func Start(cfg Config, logger *zap.Logger) (*Node, error) {
	if cfg.FS == nil {
		cfg.FS = vfs.OS
	}
	if cfg.Clock == nil {
		cfg.Clock = newSystemClock()
	}
	if cfg.Entropy == nil {
		cfg.Entropy = rand.Reader
	}
	if err := validateStaticBrokerConfigs(cfg.StaticBrokerConfigs); err != nil {
		return nil, err
	}
	if err := cfg.FS.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir %s: %w", cfg.DataDir, err)
	}
	clusterID, err := loadOrCreateMetaProperties(cfg.FS, cfg.DataDir, cfg.NodeID, cfg.Entropy)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, logger: logger.With(zap.Int32("node_id", cfg.NodeID)), clusterID: clusterID, routes: newRouteTable()}
	n.metrics = newNodeMetrics()
	n.groups = newGroupNode(n)
	if cfg.CacheBytes > 0 {
		if n.cache, err = blockcache.New[*logstore.Block](cfg.CacheBytes); err != nil {
			return nil, fmt.Errorf("block cache: %w", err)
		}
		n.blocks = logstore.NewBlockPool(min(cfg.CacheBytes, maxFreeBlockBytes), cfg.poisonReleasedBuffers)
	}
	if n.metadata, err = openMetadataStore(cfg.FS, cfg.DataDir, cfg.NodeID, n.logger.Named("metadata")); err != nil {
		n.closeCache()
		return nil, err
	}
	n.system = newActorSystem(n.logger)
	n.system.EventStream.Subscribe(func(evt interface{}) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			answerUndelivered(dl.Message)
		}
	})
	n.cleaner = newLogCleaner()
	n.highWatermarks = startHighWatermarkCheckpoint(cfg.FS, cfg.DataDir, cfg.HighWatermarkCheckpointIntervalMs, n.logger)
	if err := n.startActors(); err != nil {
		n.stopActors()
		n.highWatermarks.stop()
		n.cleaner.stop()
		n.closeCache()
		return nil, err
	}
	if err := n.startServer(); err != nil {
		n.stopActors()
		n.highWatermarks.stop()
		n.cleaner.stop()
		n.closeCache()
		return nil, err
	}
	if err := n.startMetrics(); err != nil {
		_ = n.server.Close()
		n.stopActors()
		n.highWatermarks.stop()
		n.cleaner.stop()
		n.closeCache()
		return nil, err
	}
	n.logger.Info("node started", zap.String("listener", n.server.Addr().String()), zap.String("cluster_id", clusterID), zap.String("log_dir", cfg.DataDir))
	return n, nil
}

func (n *Node) startServer() error {
	handler := newRouter(n)
	n.router = handler
	srv, err := netio.NewServer(netio.Config{
		Address:              n.cfg.ListenAddress,
		RequestMaxBytes:      n.cfg.RequestMaxBytes,
		MaxConnections:       n.cfg.MaxConnections,
		ConnectionsMaxIdleMs: n.cfg.ConnectionsMaxIdleMs,
		APIVersions:          servedAPIVersions(),
		Observer:             n.metrics,
		// Produce records are held (Request.Retain) until their partition
		// appended them; every other request is done with its frame when
		// it is answered.
		PoolRequestBuffers:    true,
		PoisonReleasedBuffers: n.cfg.poisonReleasedBuffers,
	}, handler, n.logger.Named("netio"))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.ListenAddress, err)
	}
	n.server = srv
	return nil
}

func (n *Node) startMetrics() error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.metrics.handler())
	if err := n.serveHTTP("metrics.listener", n.cfg.MetricsListener, mux); err != nil {
		return err
	}
	if err := n.serveHTTP("debug.listener", n.cfg.DebugListener, debugHandler()); err != nil {
		n.closeHTTP()
		return err
	}
	return nil
}

// serveHTTP serves handler on addr (the setting key names it in errors);
// an empty addr serves nothing.
func (n *Node) serveHTTP(key, addr string, handler http.Handler) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", key, addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	n.httpServers = append(n.httpServers, srv)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("http server stopped", zap.String("listener", key), zap.Error(err))
		}
	}()
	return nil
}

func (n *Node) closeHTTP() {
	for _, srv := range n.httpServers {
		_ = srv.Close()
	}
}

// Addr is the address the Kafka listener is bound to.
func (n *Node) Addr() net.Addr { return n.server.Addr() }

// ClusterID is the cluster id kept in meta.properties.
func (n *Node) ClusterID() string { return n.clusterID }

// advertised is the host and port clients are told to connect to.
func (n *Node) advertised() (string, int32) {
	host, port := n.cfg.AdvertisedHost, n.cfg.AdvertisedPort
	if tcp, ok := n.server.Addr().(*net.TCPAddr); ok {
		if host == "" {
			host = tcp.IP.String()
		}
		if port == 0 {
			port = int32(tcp.Port)
		}
	}
	return host, port
}

// Stop shuts the node down gracefully: stop accepting, finish in-flight
// requests (until ctx ends), stop every partition actor (each flushes and
// leaves its clean-shutdown marker), close the cache.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		var errs []error
		// Answer the fetches waiting for data (and let no new one wait),
		// then stop accepting and let every in-flight request finish.
		n.router.closing.Store(true)
		n.router.wakeParkedFetches()
		n.groups.shutdown()
		if err := n.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down listener: %w", err))
		}
		n.closeHTTP()
		// Partitions stopped by the shutdown keep their high watermarks
		// in the checkpoint, written once more after they stopped.
		n.highWatermarks.beginShutdown()
		n.stopActors()
		n.highWatermarks.stop()
		n.cleaner.stop()
		n.closeCache()
		n.stopErr = errors.Join(errs...)
		n.logger.Info("node stopped")
	})
	return n.stopErr
}

// startActors starts the replica manager, which starts every replica the
// metadata log assigns this node, then the controller.
func (n *Node) startActors() error {
	if err := n.startReplicaManager(n.metadata.image()); err != nil {
		return err
	}
	return n.startController(n.metadata)
}

// stopActors stops the controller, so metadata no longer changes, then the
// replica manager, whose children (every partition actor) stop first.
func (n *Node) stopActors() {
	if n.controller != nil {
		_ = n.system.Root.StopFuture(n.controller).Wait()
	}
	if n.replicaManager != nil {
		_ = n.system.Root.StopFuture(n.replicaManager).Wait()
	}
	n.system.Shutdown()
	if err := n.metadata.close(); err != nil {
		n.logger.Error("close metadata log", zap.Error(err))
	}
}

func (n *Node) closeCache() {
	if n.cache != nil {
		n.cache.Close()
	}
}

// partitionDir is the directory of one partition's log.
func (n *Node) partitionDir(topic string, partition int32) string {
	return filepath.Join(n.cfg.DataDir, fmt.Sprintf("%s-%d", topic, partition))
}

// maxFreeBlockBytes bounds the free blocks the node's block pool keeps: a
// busy cache frees about one block per block it takes in, so a few
// megabytes carry the tail and cache blocks of every partition.
const maxFreeBlockBytes = 32 << 20

// blockCache is the node's cache as logstore sees it (nil when disabled).
func (n *Node) blockCache() logstore.BlockCache {
	if n.cache == nil {
		return nil
	}
	return n.cache
}

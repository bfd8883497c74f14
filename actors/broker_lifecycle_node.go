package actors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/logstore/vfs"
)

// The node's own lifecycle, around its broker's: starting the metadata
// actors, and stopping everything in order.

// startActors spawns the controller (on a controller-role node) and the
// quorum actor over the recovered metadata log. Neither is restarted when
// it panics: a broken invariant in the metadata path fails the node, and
// the quorum elects another leader.
func (n *Node) startActors(opened *openedQuorum) error {
	guard := actor.WithGuardian(actor.NewOneForOneStrategy(0, time.Second, func(reason interface{}) actor.Directive {
		n.fail(fmt.Errorf("metadata actor failed: %v", reason))
		return actor.StopDirective
	}))
	logPanics := actor.WithReceiverMiddleware(logPanicStack(n.logger))
	if n.cfg.Roles.Controller {
		if _, err := n.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
			return &controllerActor{node: n}
		}, guard, logPanics), controllerName); err != nil {
			_ = opened.log.Close()
			return err
		}
		n.spawned[controllerName] = true
	}
	if _, err := n.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
		return &quorumActor{node: n, core: opened.core, log: opened.log, migrated: opened.migrated}
	}, guard, logPanics), quorumName); err != nil {
		_ = opened.log.Close()
		return err
	}
	n.spawned[quorumName] = true
	return nil
}

// stop stops the node; graceful asks for a controlled shutdown, keeps
// answering while group members learn their coordinators moved
// (shutdown_drain.go), lets in-flight requests finish, hands the quorum's
// leadership on and leaves gossip (meanwhile) first. Without it the node stops as if
// killed, but for its files (tests).
func (n *Node) stop(ctx context.Context, graceful bool) {
	n.stopOnce.Do(func() {
		var errs []error
		var phases []zap.Field // when each step ended, from the start
		if n.router != nil {
			// Answer the fetches waiting for data (and let no new one wait).
			n.router.closing.Store(true)
			n.router.wakeParkedFetches()
		}
		began := time.Now()
		var left <-chan struct{}
		leave := graceful
		lifecycle := n.lifecycle.Load()
		if graceful {
			n.tellQuorumStopping(lifecycle != nil)
		}
		if graceful && lifecycle != nil {
			n.awaitActor(ctx, lifecycle, func(done func()) any { return &beginControlledShutdown{done: done} })
			n.tellQuorumStopping(false)
			phases = append(phases, zap.Duration("controlled_shutdown", time.Since(began)))
			// The broker's leadership moved: the others may learn it left
			// while the members drain and the listener and actors stop.
			// With no other active broker (a cluster going down: every
			// other one fenced or shutting down too) nobody needs the
			// news, and a leave whose peers are gone or going waits out
			// serf's broadcast timeout (2 s, then 0.5 s more): gossip
			// stops without it, as after a failure.
			if leave = n.routes.load().image.ActiveBrokerOtherThan(n.cfg.NodeID); leave {
				left = n.leaveGossip()
			}
			n.drainCoordinatorClients(ctx)
		}
		phases = append(phases, zap.Duration("drained", time.Since(began)))
		if n.groups != nil {
			n.groups.shutdown()
			n.txns.shutdown()
		}
		if n.server != nil {
			if graceful {
				if err := n.server.Shutdown(ctx); err != nil {
					errs = append(errs, fmt.Errorf("shut down listener: %w", err))
				}
			} else {
				_ = n.server.Close()
			}
		} else if n.brokerListener != nil {
			_ = n.brokerListener.Close()
		}
		phases = append(phases, zap.Duration("listener_closed", time.Since(began)))
		if !graceful {
			n.stopGossip(nil, false) // the others see a failure
		} else if leave && left == nil {
			left = n.leaveGossip()
		}
		if graceful && n.quorum != nil && len(n.cfg.QuorumVoters) > 1 {
			bounded, cancel := context.WithTimeout(ctx, time.Duration(n.cfg.QuorumElectionTimeoutMs)*time.Millisecond)
			n.awaitActor(bounded, n.quorum, func(done func()) any { return &transferLeadership{done: done} })
			cancel()
			phases = append(phases, zap.Duration("quorum_handed_on", time.Since(began)))
		}
		if n.controllerServer != nil {
			_ = n.controllerServer.Close()
		}
		n.closeHTTP()
		if n.highWatermarks != nil {
			// Partitions stopped by the shutdown keep their high
			// watermarks in the checkpoint, written once more after they
			// stopped.
			n.highWatermarks.beginShutdown()
		}
		n.stopping.Store(true)
		n.stopSingletons()
		phases = append(phases, zap.Duration("controller_stopped", time.Since(began)))
		n.stopReplicas()
		phases = append(phases, zap.Duration("actors_stopped", time.Since(began)))
		// The leave spread its news while the partitions closed their
		// logs; gossip stops before the actor system, which its events
		// reach.
		if graceful {
			n.stopGossip(left, !leave)
			phases = append(phases, zap.Duration("gossip_left", time.Since(began)))
		}
		if n.system != nil {
			n.system.Shutdown()
		}
		phases = append(phases, zap.Duration("system_stopped", time.Since(began)))
		if err := n.syncLogMarkers(); err != nil {
			errs = append(errs, err)
		} else if err := n.markCleanShutdown(graceful); err != nil {
			errs = append(errs, err)
		}
		phases = append(phases, zap.Duration("marked_clean", time.Since(began)))
		if n.dispatcher != nil {
			n.dispatcher.stop()
		}
		if n.highWatermarks != nil {
			n.highWatermarks.stop()
		}
		if n.cleaner != nil {
			n.cleaner.stop()
		}
		n.controllers.close()
		if n.cache != nil {
			n.cache.Close()
		}
		n.stopErr = errors.Join(errs...)
		n.logger.Info("node stopped", append([]zap.Field{zap.Bool("graceful", graceful), zap.Duration("took", time.Since(began))}, phases...)...)
		n.logsClosed.Store(true)
	})
}

// syncLogMarkers makes the clean shutdown markers of the logs the
// partitions closed (logstore.Log.CloseForShutdown) durable: one sync of
// the data directory's filesystem, where each log's own directory sync
// cost a journal commit (a node with 1,500 partitions spent ~1 s on them).
func (n *Node) syncLogMarkers() error {
	s, ok := n.cfg.FS.(vfs.FSSyncer)
	if !ok || n.cfg.DataDir == "" || n.system == nil {
		return nil
	}
	if err := s.SyncFS(n.cfg.DataDir); err != nil {
		return fmt.Errorf("sync the logs' clean shutdown markers: %w", err)
	}
	return nil
}

// awaitActor sends an actor a message built around a done callback and
// waits until it runs or ctx ends.
func (n *Node) awaitActor(ctx context.Context, pid *actor.PID, msg func(done func()) any) {
	ch := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(ch) }) }
	n.system.Root.Send(pid, msg(done))
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// stopSingletons stops the broker lifecycle, the controller (so metadata
// no longer changes here) and the quorum actor (which closes the metadata
// log); stopReplicas then stops the replica manager, whose children (every
// partition actor) stop first. The caller shuts the actor system down
// after.
func (n *Node) stopSingletons() {
	if n.system == nil {
		return
	}
	for _, name := range []string{brokerLifecycleName, controllerName, quorumName} {
		if n.spawned[name] {
			_ = n.system.Root.StopFuture(n.system.NewLocalPID(name)).Wait()
		}
	}
}

// stopReplicas stops the replica manager and with it every replica
// (stopSingletons).
func (n *Node) stopReplicas() {
	if n.system != nil && n.replicaManager != nil {
		_ = n.system.Root.StopFuture(n.replicaManager).Wait()
	}
}

// Failed is closed when the node failed while running: the controller
// refused its broker (another live broker has its node.id), its metadata
// log failed, gossip found another node with its id. Err says why; the
// node should be stopped.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Err is why the node failed, nil while it did not.
func (n *Node) Err() error {
	select {
	case <-n.failed:
		return n.failErr
	default:
		return nil
	}
}

// fail records that the node cannot go on.
func (n *Node) fail(err error) {
	n.failOnce.Do(func() {
		n.failErr = err
		n.logger.Error("node failed", zap.Error(err))
		close(n.failed)
	})
}

// unfence notes that the controller unfenced this broker (once).
func (n *Node) unfence() { n.unfenceOnce.Do(func() { close(n.unfenced) }) }

// send sends msg to pid, unless the node has no such actor.
func (n *Node) send(pid *actor.PID, msg any) {
	if pid != nil {
		n.system.Root.Send(pid, msg)
	}
}

func (n *Node) startMetrics() error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.metrics.handler())
	// A browser or curl pointed at the listener itself (make run prints
	// only its address) finds where the metrics are, not a bare 404.
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, "<!DOCTYPE html>\n<title>gregor node %d</title>\n<p>gregor node %d: <a href=\"/metrics\">/metrics</a> (Prometheus text format)</p>\n", n.cfg.NodeID, n.cfg.NodeID)
	})
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
	// Addr records the address bound (a port 0 in addr is chosen here).
	srv := &http.Server{Addr: l.Addr().String(), Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	n.httpServers = append(n.httpServers, srv)
	go func() {
		if err := srv.Serve(httpOnlyListener{Listener: l, key: key}); err != nil && !errors.Is(err, http.ErrServerClosed) {
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

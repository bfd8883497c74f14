package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"gregor/actors"
)

// shutdownTimeout bounds a graceful stop: in-flight requests get this long.
const shutdownTimeout = 30 * time.Second

// nodeConfig turns the broker configuration into what the node needs.
func nodeConfig(c *brokerConfig) (actors.Config, error) {
	if len(c.Listeners) != 1 {
		return actors.Config{}, fmt.Errorf("listeners: gregor serves exactly one listener for now, got %d (%s)", len(c.Listeners), listenersString(c.Listeners))
	}
	if len(c.LogDirs) != 1 {
		return actors.Config{}, fmt.Errorf("log.dirs: gregor uses exactly one log directory for now, got %d", len(c.LogDirs))
	}
	cfg := actors.Config{
		NodeID:                   c.NodeID,
		ListenAddress:            c.Listeners[0].Address(),
		DataDir:                  c.LogDirs[0],
		AutoCreateTopics:         c.AutoCreateTopicsEnable,
		NumPartitions:            c.NumPartitions,
		DefaultReplicationFactor: c.DefaultReplicationFactor,
		DeleteTopicEnable:        c.DeleteTopicEnable,
		CacheBytes:               c.LogCacheBytes,
		GroupCommit:              c.LogFlushGroupCommit,
		RequestMaxBytes:          c.SocketRequestMaxBytes,
		MaxConnections:           int(c.MaxConnections),
		ConnectionsMaxIdleMs:     c.ConnectionsMaxIdleMs,
		RetentionCheckIntervalMs: c.LogRetentionCheckIntervalMs,
		DisableLogCleaner:        !c.LogCleanerEnable,
		MetricsListener:          c.MetricsListener,
		DebugListener:            c.DebugListener,
		StaticBrokerConfigs:      map[string]string{},
	}
	cfg.HighWatermarkCheckpointIntervalMs = c.HighWatermarkCheckpointMs
	cfg.Groups = groupConfig(c)
	if len(c.AdvertisedListeners) > 0 {
		cfg.AdvertisedHost, cfg.AdvertisedPort = c.AdvertisedListeners[0].Host, int32(c.AdvertisedListeners[0].Port)
	}
	for _, s := range c.Settings {
		if s.Source == "default" {
			continue
		}
		key := s.Key
		if key == "log.segment.ms" {
			key = "log.roll.ms" // Kafka's name for the broker-wide segment.ms
		}
		cfg.StaticBrokerConfigs[key] = s.Value
	}
	return cfg, nil
}

// runNode starts the node and serves until SIGINT or SIGTERM (or ctx ends),
// then stops gracefully: in-flight requests finish, logs are flushed and
// marked cleanly shut down.
func runNode(ctx context.Context, cfg actors.Config, logger *zap.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	node, err := actors.Start(cfg, logger)
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := node.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

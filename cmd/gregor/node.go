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
	if len(c.LogDirs) != 1 {
		return actors.Config{}, fmt.Errorf("log.dirs: gregor uses exactly one log directory for now, got %d", len(c.LogDirs))
	}
	cfg := actors.Config{
		NodeID:                   c.NodeID,
		DataDir:                  c.LogDirs[0],
		AutoCreateTopics:         c.AutoCreateTopicsEnable,
		NumPartitions:            c.NumPartitions,
		DefaultReplicationFactor: c.DefaultReplicationFactor,
		DeleteTopicEnable:        c.DeleteTopicEnable,
		CacheBytes:               c.LogCacheBytes,
		LogRecoveryThreads:       int(c.NumRecoveryThreadsPerDataDir),
		GroupCommit:              c.LogFlushGroupCommit,
		RequestMaxBytes:          c.SocketRequestMaxBytes,
		MaxConnections:           int(c.MaxConnections),
		SocketSendBufferBytes:    int(c.SocketSendBufferBytes),
		SocketReceiveBufferBytes: int(c.SocketReceiveBufferBytes),
		ConnectionsMaxIdleMs:     c.ConnectionsMaxIdleMs,
		RetentionCheckIntervalMs: c.LogRetentionCheckIntervalMs,
		CleanerBackoffMs:         c.LogCleanerBackoffMs,
		ProducerIDExpirationMs:   c.ProducerIDExpirationMs,
		DisableLogCleaner:        !c.LogCleanerEnable,
		FollowersAskEpochFirst:   !c.ReplicaTruncateOnFetch,
		MetricsListener:          c.MetricsListener,
		DebugListener:            c.DebugListener,
		StaticBrokerConfigs:      map[string]string{},
	}
	cfg.HighWatermarkCheckpointIntervalMs = c.HighWatermarkCheckpointMs
	cfg.Groups = groupConfig(c)
	cfg.Txns = txnConfig(c)
	if err := clusterNodeConfig(c, &cfg); err != nil {
		return actors.Config{}, err
	}
	cfg.DefaultBrokerConfigs = map[string]string{}
	cfg.BrokerConfigDocs = map[string]string{}
	for _, key := range brokerConfigKeys {
		if key.Doc != "" {
			cfg.BrokerConfigDocs[key.Name] = key.Doc
		}
	}
	for _, s := range c.Settings {
		key := s.Key
		cfg.BrokerConfigKeys = append(cfg.BrokerConfigKeys, key)
		if s.Source == "default" {
			if s.Value != "" { // unset by default (broker.rack, debug.listener)
				cfg.DefaultBrokerConfigs[key] = s.Value
			}
			continue
		}
		if s.Alias != "" {
			// Set only through an alias (log.retention.hours): the
			// node keeps the alias as written, and reads the key's
			// value from it, as Kafka's broker does.
			continue
		}
		cfg.StaticBrokerConfigs[key] = s.Value
	}
	kafkaAliasConfigs(c, cfg.StaticBrokerConfigs, cfg.DefaultBrokerConfigs)
	// What the node would refuse at its start (roles, voters and
	// listeners that contradict each other) is refused here, so
	// --check-config and cluster up's checks find it too.
	if err := cfg.Check(); err != nil {
		return actors.Config{}, err
	}
	return cfg, nil
}

// kafkaAliasConfigs adds Kafka's alias keys to what DescribeConfigs of the
// broker lists, each under its own name as Kafka's brokers list them: the
// aliases given (log.retention.hours, ...) as written, broker.id as
// node.id, and Kafka's defaults of log.retention.hours and log.roll.hours
// when not given (log.retention.minutes has none). The effective values
// stay those of the keys they fold into (log.retention.ms, log.roll.ms).
func kafkaAliasConfigs(c *brokerConfig, static, defaults map[string]string) {
	for _, s := range c.AliasSettings {
		static[s.Key] = s.Value
	}
	if _, ok := static["broker.id"]; !ok {
		if v, ok := static["node.id"]; ok {
			static["broker.id"] = v
		} else if v, ok := defaults["node.id"]; ok {
			defaults["broker.id"] = v
		}
	}
	for _, k := range []string{"log.retention.hours", "log.roll.hours"} {
		if _, ok := static[k]; !ok {
			defaults[k] = "168"
		}
	}
}

// runNode starts the node and serves until SIGINT or SIGTERM (or ctx ends),
// then stops gracefully: the broker's leadership moves away (a controlled
// shutdown), in-flight requests finish, logs are flushed and marked cleanly
// shut down. A node that fails while running (another live broker has its
// node.id) stops and returns why.
func runNode(ctx context.Context, cfg actors.Config, logger *zap.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A node waits for a quorum of its controllers and for the controller
	// to unfence its broker; a signal meanwhile stops it.
	node, err := actors.Start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	var failed error
	select {
	case <-ctx.Done():
	case <-node.Failed():
		failed = node.Err()
	}
	logger.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := node.Stop(stopCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return errors.Join(failed, err)
	}
	return failed
}

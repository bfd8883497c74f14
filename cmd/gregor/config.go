package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// brokerConfig is a node's validated configuration. Each field is named
// after its Kafka key (log.segment.bytes is LogSegmentBytes) and carries its
// unit; the serve command hands it to the node.
type brokerConfig struct {
	NodeID                        int32               // node.id (alias broker.id)
	Listeners                     []listener          // listeners
	AdvertisedListeners           []listener          // advertised.listeners; derived from listeners when unset
	ListenerSecurityProtocolMap   map[string]string   // listener.security.protocol.map, listener name → protocol
	LogDirs                       []string            // log.dirs (alias log.dir)
	NumPartitions                 int32               // num.partitions: partitions of an auto-created topic
	NumRecoveryThreadsPerDataDir  int32               // num.recovery.threads.per.data.dir: logs opened at once
	DefaultReplicationFactor      int16               // default.replication.factor
	MinInsyncReplicas             int32               // min.insync.replicas
	AutoCreateTopicsEnable        bool                // auto.create.topics.enable
	DeleteTopicEnable             bool                // delete.topic.enable
	MessageMaxBytes               int32               // message.max.bytes: largest record batch accepted
	SocketRequestMaxBytes         int32               // socket.request.max.bytes: largest request frame
	SocketSendBufferBytes         int32               // socket.send.buffer.bytes; -1 for the OS default
	SocketReceiveBufferBytes      int32               // socket.receive.buffer.bytes; -1 for the OS default
	MaxConnections                int32               // max.connections
	ConnectionsMaxIdleMs          int64               // connections.max.idle.ms
	LogSegmentBytes               int32               // log.segment.bytes
	LogRollMs                     int64               // log.roll.ms (or log.roll.hours; gregor's old name log.segment.ms)
	LogRetentionMs                int64               // log.retention.ms (or .minutes, .hours); -1 unlimited
	LogRetentionBytes             int64               // log.retention.bytes; -1 unlimited
	LogRetentionCheckIntervalMs   int64               // log.retention.check.interval.ms
	ProducerIDExpirationMs        int64               // producer.id.expiration.ms
	LogCleanupPolicy              []string            // log.cleanup.policy: delete and/or compact
	LogCleanerDeleteRetentionMs   int64               // log.cleaner.delete.retention.ms: how long tombstones stay
	LogCleanerEnable              bool                // log.cleaner.enable: compact topics with cleanup.policy compact
	LogCleanerBackoffMs           int64               // log.cleaner.backoff.ms
	LogIndexIntervalBytes         int32               // log.index.interval.bytes
	LogIndexSizeMaxBytes          int32               // log.index.size.max.bytes
	LogFlushIntervalMessages      int64               // log.flush.interval.messages
	LogFlushIntervalMs            int64               // log.flush.interval.ms
	LogFlushSchedulerIntervalMs   int64               // log.flush.scheduler.interval.ms
	LogFlushOffsetCheckpointMs    int32               // log.flush.offset.checkpoint.interval.ms
	LogFlushStartOffsetCheckMs    int32               // log.flush.start.offset.checkpoint.interval.ms
	LogFlushGroupCommit           bool                // log.flush.group.commit: fsync before acknowledging, batched
	LogCacheBytes                 int64               // log.cache.bytes: the shared block cache; 0 disables it
	LogMessageTimestampType       string              // log.message.timestamp.type: CreateTime or LogAppendTime
	CompressionType               string              // compression.type
	UncleanLeaderElectionEnable   bool                // unclean.leader.election.enable
	ReplicaLagTimeMaxMs           int64               // replica.lag.time.max.ms
	ReplicaTruncateOnFetch        bool                // replica.truncate.on.fetch: followers truncate by diverging epochs
	HighWatermarkCheckpointMs     int64               // replica.high.watermark.checkpoint.interval.ms
	OffsetsTopicNumPartitions     int32               // offsets.topic.num.partitions
	OffsetsTopicReplication       int16               // offsets.topic.replication.factor
	TxnStateLogNumPartitions      int32               // transaction.state.log.num.partitions
	TxnStateLogReplication        int16               // transaction.state.log.replication.factor
	TxnStateLogMinIsr             int32               // transaction.state.log.min.isr
	TxnStateLogSegmentBytes       int32               // transaction.state.log.segment.bytes
	TxnMaxTimeoutMs               int32               // transaction.max.timeout.ms
	TxnIDExpirationMs             int32               // transactional.id.expiration.ms
	TxnRemoveExpiredIntervalMs    int32               // transaction.remove.expired.transaction.cleanup.interval.ms
	BootstrapTransactionVersion   int16               // bootstrap.transaction.version
	GroupInitialRebalanceMs       int32               // group.initial.rebalance.delay.ms
	GroupMinSessionTimeoutMs      int32               // group.min.session.timeout.ms
	GroupMaxSessionTimeoutMs      int32               // group.max.session.timeout.ms
	GroupMaxSize                  int32               // group.max.size
	GroupConsumerSessionTimeoutMs int32               // group.consumer.session.timeout.ms
	GroupConsumerHeartbeatMs      int32               // group.consumer.heartbeat.interval.ms
	OffsetsRetentionMinutes       int32               // offsets.retention.minutes
	OffsetsRetentionCheckMs       int64               // offsets.retention.check.interval.ms
	OffsetsTopicSegmentBytes      int32               // offsets.topic.segment.bytes
	OffsetMetadataMaxBytes        int32               // offset.metadata.max.bytes
	LogLevel                      zapcore.Level       // log.level
	LogFormat                     string              // log.format: json or console
	MetricsListener               string              // metrics.listener host:port; "" disables /metrics
	DebugListener                 string              // debug.listener host:port; "" (the default) disables pprof
	clusterSettings                                   // process.roles, controller.quorum.voters, ...
	replicaFetchSettings                              // replica.fetch.*
	Settings                      []configSetting     // every known key's effective value in canonical form, in table order
	AliasSettings                 []configSetting     // the aliases given (log.retention.hours, ...), as written, in configAliases order
	unsetKeys                     map[string]struct{} // keys left at an empty default, for derivation
}

// configSetting is one key's value and where it came from.
type configSetting struct {
	Key      string
	Value    string
	Source   string // "default", "--set", "FILE:LINE", "derived from listeners", ...
	Override bool   // from --set, which wins over the file
	Alias    string // the Kafka alias it was given by (log.retention.hours), or "" (also for gregor's old names)
}

// configOptions carries what building a configuration needs from outside.
type configOptions struct {
	// hostname names this machine; advertised.listeners uses it for a
	// listener with an empty host, as Kafka does.
	hostname func() (string, error)
}

// collectSettings orders every setting: the file's lines first, then each
// --set override (key=value), so a later one wins.
func collectSettings(fileName string, props []property, overrides []string) ([]configSetting, error) {
	settings := make([]configSetting, 0, len(props)+len(overrides))
	for _, p := range props {
		settings = append(settings, configSetting{Key: p.Key, Value: p.Value, Source: fmt.Sprintf("%s:%d", fileName, p.Line)})
	}
	for _, o := range overrides {
		key, value, found := strings.Cut(o, "=")
		key = strings.TrimSpace(key)
		if !found || key == "" {
			return nil, fmt.Errorf("--set %q: want key=value", o)
		}
		settings = append(settings, configSetting{Key: key, Value: value, Source: "--set", Override: true})
	}
	return settings, nil
}

// readServerProperties reads and parses a server.properties file.
func readServerProperties(path string) ([]property, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, maxPropertiesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	props, err := parseProperties(string(text))
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	return props, nil
}

// buildBrokerConfig applies settings over the defaults, validates every
// value and the keys' agreement with each other, and warns about unknown
// keys through logger. Every invalid value is reported, joined in one error.
func buildBrokerConfig(settings []configSetting, opts configOptions, logger *zap.Logger) (*brokerConfig, error) {
	latest := make(map[string]configSetting, len(settings))
	var order []string
	for _, s := range settings {
		if _, seen := latest[s.Key]; !seen {
			order = append(order, s.Key)
		}
		latest[s.Key] = s
	}
	var errs []error
	aliases, aliasErrs := resolveConfigAliases(latest)
	errs = append(errs, aliasErrs...)
	reportUnknownKeys(order, latest, logger)

	cfg := &brokerConfig{unsetKeys: make(map[string]struct{}), AliasSettings: aliases}
	for _, key := range brokerConfigKeys {
		s, ok := latest[key.Name]
		if !ok {
			s = configSetting{Key: key.Name, Value: key.Default, Source: "default"}
		}
		canonical, expected, valid := key.apply(cfg, s.Value)
		if !valid {
			errs = append(errs, &configValueError{Key: key.Name, Value: s.Value, Source: s.Source, Expected: expected})
			continue
		}
		if canonical == "" {
			cfg.unsetKeys[key.Name] = struct{}{}
		}
		// The node reads these values again (as topic defaults, for
		// DescribeConfigs) with Kafka's plain parsers: hand it the canonical
		// form, not "64MiB" or a value with the trailing space a properties
		// file keeps.
		s.Value = canonical
		cfg.Settings = append(cfg.Settings, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := cfg.checkQuorumBootstrap(latest); err != nil {
		return nil, err
	}
	if err := cfg.checkAgreement(opts); err != nil {
		return nil, err
	}
	return cfg, nil
}

// reportUnknownKeys warns about keys gregor does not know (ignored, as
// Kafka ignores them, naming the known keys a typo is closest to) and notes
// the Kafka keys it knows but has no use for.
func reportUnknownKeys(order []string, latest map[string]configSetting, logger *zap.Logger) {
	for _, key := range order {
		s, ok := latest[key]
		if !ok || findConfigKey(key) != nil {
			continue // an alias already folded into its target, or a known key
		}
		if slices.Contains(unusedKafkaKeys, key) {
			logger.Info("ignoring kafka setting gregor does not use", zap.String("key", key), zap.String("source", s.Source))
			continue
		}
		fields := []zap.Field{zap.String("key", key), zap.String("source", s.Source), zap.String("effect", "ignored")}
		if close := closestConfigKeys(key); len(close) > 0 {
			fields = append(fields, zap.Strings("did_you_mean", close))
		}
		logger.Warn("unknown configuration key", fields...)
	}
}

// findConfigKey returns the table entry for name, or nil.
func findConfigKey(name string) *configKey {
	for i := range brokerConfigKeys {
		if brokerConfigKeys[i].Name == name {
			return &brokerConfigKeys[i]
		}
	}
	return nil
}

// setting returns the effective setting of key, which must be in the table.
func (c *brokerConfig) setting(key string) configSetting {
	for _, s := range c.Settings {
		if s.Key == key {
			return s
		}
	}
	panic("brokerConfig.setting: key not in the table: " + key)
}

// replaceSetting records a derived effective value for key.
func (c *brokerConfig) replaceSetting(key, value, source string) {
	for i := range c.Settings {
		if c.Settings[i].Key == key {
			c.Settings[i] = configSetting{Key: key, Value: value, Source: source}
			return
		}
	}
	panic("brokerConfig.replaceSetting: key not in the table: " + key)
}

// checkAgreement checks what no single key can: listener protocols, the
// advertised listeners, and the metrics listener's port.
func (c *brokerConfig) checkAgreement(opts configOptions) error {
	if err := assignSecurityProtocols(c.Listeners, c.controllerProtocols()); err != nil {
		return c.invalid("listeners", "listeners whose protocol in listener.security.protocol.map is PLAINTEXT ("+err.Error()+")")
	}
	if err := c.deriveAdvertisedListeners(opts); err != nil {
		return err
	}
	if err := c.checkReplicaFetch(); err != nil {
		return err
	}
	return c.checkMetricsListener()
}

// invalid builds the error for key's effective value.
func (c *brokerConfig) invalid(key, expected string) error {
	s := c.setting(key)
	return &configValueError{Key: key, Value: s.Value, Source: s.Source, Expected: expected}
}

// deriveAdvertisedListeners fills advertised.listeners from listeners when
// it is unset, and otherwise checks that it names only known listeners.
func (c *brokerConfig) deriveAdvertisedListeners(opts configOptions) error {
	const key = "advertised.listeners"
	if _, unset := c.unsetKeys[key]; !unset {
		for i, a := range c.AdvertisedListeners {
			j := slices.IndexFunc(c.Listeners, func(l listener) bool { return l.Name == a.Name })
			if j < 0 || a.Host == "" || isWildcardHost(a.Host) || a.Port == 0 {
				return c.invalid(key, "listeners named in listeners, each with a host clients can reach and a non-zero port")
			}
			c.AdvertisedListeners[i].SecurityProtocol = c.Listeners[j].SecurityProtocol
		}
		return nil
	}
	derived := slices.DeleteFunc(slices.Clone(c.Listeners), c.isControllerListener)
	for i := range derived {
		switch {
		case isWildcardHost(derived[i].Host):
			return c.invalid(key, "a value set explicitly, since listeners binds "+derived[i].String()+", an address clients cannot connect to")
		case derived[i].Host == "":
			host, err := opts.hostname()
			if err != nil {
				return fmt.Errorf("derive advertised.listeners from %s: %w", derived[i], err)
			}
			derived[i].Host = host
		}
	}
	c.AdvertisedListeners = derived
	c.replaceSetting(key, listenersString(derived), "derived from listeners")
	return nil
}

// checkMetricsListener refuses a metrics or debug address that a listener
// (or, for the debug listener, the metrics listener) also uses.
func (c *brokerConfig) checkMetricsListener() error {
	for _, hl := range []struct{ key, addr string }{{"metrics.listener", c.MetricsListener}, {"debug.listener", c.DebugListener}} {
		if hl.addr == "" {
			continue
		}
		host, port, _ := parseHostPort(hl.addr)
		for _, l := range c.Listeners {
			if port != 0 && port == l.Port && sameListenHost(host, l.Host) {
				return c.invalid(hl.key, "a host:port that no listener uses (listener "+l.String()+" has it)")
			}
		}
	}
	if c.MetricsListener != "" && c.DebugListener != "" {
		mHost, mPort, _ := parseHostPort(c.MetricsListener)
		dHost, dPort, _ := parseHostPort(c.DebugListener)
		if dPort != 0 && dPort == mPort && sameListenHost(dHost, mHost) {
			return c.invalid("debug.listener", "a host:port other than metrics.listener's")
		}
	}
	return nil
}

// sameListenHost says whether two bind hosts may be the same address (an
// empty or wildcard host binds every address).
func sameListenHost(a, b string) bool {
	return a == b || a == "" || b == "" || isWildcardHost(a) || isWildcardHost(b)
}

// listenersString writes listeners back as a Kafka listener list.
func listenersString(list []listener) string {
	parts := make([]string, len(list))
	for i, l := range list {
		parts[i] = l.String()
	}
	return strings.Join(parts, ",")
}

// writeEffectiveConfig prints every key's effective value as a
// server.properties file; a comment line before a value that is not the
// default says where it came from.
func (c *brokerConfig) writeEffectiveConfig(w io.Writer) error {
	var out strings.Builder
	for _, s := range c.Settings {
		if s.Source != "default" {
			fmt.Fprintf(&out, "# source: %s\n", s.Source)
		}
		out.WriteString(formatProperty(s.Key, s.Value))
		out.WriteByte('\n')
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("write effective config: %w", err)
	}
	return nil
}

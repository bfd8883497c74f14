package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
)

// configKey is one known key: its Kafka name, default, meaning, and how a
// value is read into brokerConfig. apply returns the value in canonical form
// (what the node is given: surrounding space trimmed, a byte count in plain
// bytes), the expected form of the value, and whether value had it.
type configKey struct {
	Name    string
	Default string
	Doc     string
	apply   func(cfg *brokerConfig, value string) (canonical, expected string, ok bool)
}

// integerKey is a key holding an integer of type T within r.
func integerKey[T integer](name, def string, r integerRange[T], field func(*brokerConfig) *T, doc string) configKey {
	return configKey{Name: name, Default: def, Doc: doc, apply: func(cfg *brokerConfig, value string) (string, string, bool) {
		v, expected, ok := parseInteger(value, r)
		if ok {
			*field(cfg) = v
		}
		return strconv.FormatInt(int64(v), 10), expected, ok
	}}
}

// byteCountKey is a key holding a byte count of type T within r.
func byteCountKey[T integer](name, def string, r integerRange[T], field func(*brokerConfig) *T, doc string) configKey {
	return configKey{Name: name, Default: def, Doc: doc, apply: func(cfg *brokerConfig, value string) (string, string, bool) {
		v, expected, ok := parseByteCount(value, r)
		if ok {
			*field(cfg) = v
		}
		return strconv.FormatInt(int64(v), 10), expected, ok
	}}
}

// booleanKey is a key holding true or false.
func booleanKey(name, def string, field func(*brokerConfig) *bool, doc string) configKey {
	return configKey{Name: name, Default: def, Doc: doc, apply: func(cfg *brokerConfig, value string) (string, string, bool) {
		v, expected, ok := parseBoolean(value)
		if ok {
			*field(cfg) = v
		}
		return strconv.FormatBool(v), expected, ok
	}}
}

// choiceKey is a key holding one of allowed.
func choiceKey(name, def string, allowed []string, field func(*brokerConfig) *string, doc string) configKey {
	return configKey{Name: name, Default: def, Doc: doc, apply: func(cfg *brokerConfig, value string) (string, string, bool) {
		v, expected, ok := parseChoice(value, allowed)
		if ok {
			*field(cfg) = v
		}
		return v, expected, ok
	}}
}

// positive is the range 1 to the largest T.
func positive[T integer]() integerRange[T] {
	return integerRange[T]{minimum: 1, maximum: maxOf[T]()}
}

// atLeastZero is the range 0 to the largest T.
func atLeastZero[T integer]() integerRange[T] {
	return integerRange[T]{minimum: 0, maximum: maxOf[T]()}
}

// unlimitedOrPositive allows -1 (no limit) or 1 and up.
func unlimitedOrPositive[T integer]() integerRange[T] {
	return integerRange[T]{minimum: 1, maximum: maxOf[T](), unlimited: true}
}

// unlimitedOrAtLeastZero allows -1 (no limit or OS default) or 0 and up.
func unlimitedOrAtLeastZero[T integer]() integerRange[T] {
	return integerRange[T]{minimum: 0, maximum: maxOf[T](), unlimited: true}
}

var (
	int32Max = strconv.FormatInt(math.MaxInt32, 10)
	int64Max = strconv.FormatInt(math.MaxInt64, 10)
)

// brokerConfigKeys is every key gregor knows, with Kafka's name and default
// (except where the issue embeds its own: listeners, log.dirs, node.id and
// the replication factors of the internal topics, which suit one node), and
// the broker-wide topic defaults no field reads (withTopicDefaultKeys).
var brokerConfigKeys = withTopicDefaultKeys(append([]configKey{
	integerKey("node.id", "1", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.NodeID },
		"this node's id, unique in the cluster"),
	{Name: "listeners", Default: "PLAINTEXT://127.0.0.1:9092", Doc: "addresses to accept Kafka clients on",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			list, expected, ok := parseListenerList(v)
			c.Listeners = list
			return listenersString(list), expected, ok
		}},
	{Name: "advertised.listeners", Default: "", Doc: "addresses given to clients in metadata; empty means listeners",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			if strings.TrimSpace(v) == "" {
				return "", "", true
			}
			list, expected, ok := parseListenerList(v)
			c.AdvertisedListeners = list
			return listenersString(list), expected, ok
		}},
	{Name: "listener.security.protocol.map", Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		Doc: "security protocol of each listener name",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			m, expected, ok := parseProtocolMap(v)
			c.ListenerSecurityProtocolMap = m
			return strings.TrimSpace(v), expected, ok
		}},
	{Name: "log.dirs", Default: "./data", Doc: "directories holding partition logs",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			paths, expected, ok := parsePathList(v)
			c.LogDirs = paths
			return strings.Join(paths, ","), expected, ok
		}},
	integerKey("num.partitions", "1", positive[int32](), func(c *brokerConfig) *int32 { return &c.NumPartitions },
		"partitions of an automatically created topic"),
	integerKey("num.recovery.threads.per.data.dir", "2", positive[int32](), func(c *brokerConfig) *int32 { return &c.NumRecoveryThreadsPerDataDir },
		"partition logs opened (and recovered) at once when a node starts"),
	integerKey("default.replication.factor", "1", positive[int16](), func(c *brokerConfig) *int16 { return &c.DefaultReplicationFactor },
		"replicas of an automatically created topic"),
	integerKey("min.insync.replicas", "1", positive[int32](), func(c *brokerConfig) *int32 { return &c.MinInsyncReplicas },
		"in-sync replicas an acks=all produce needs"),
	booleanKey("auto.create.topics.enable", "true", func(c *brokerConfig) *bool { return &c.AutoCreateTopicsEnable },
		"create a topic when metadata or produce names an unknown one"),
	booleanKey("delete.topic.enable", "true", func(c *brokerConfig) *bool { return &c.DeleteTopicEnable },
		"allow DeleteTopics"),
	byteCountKey("message.max.bytes", "1048588", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.MessageMaxBytes },
		"largest record batch accepted"),
	byteCountKey("socket.request.max.bytes", "104857600", positive[int32](), func(c *brokerConfig) *int32 { return &c.SocketRequestMaxBytes },
		"largest request frame accepted"),
	byteCountKey("socket.send.buffer.bytes", "-1", unlimitedOrAtLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.SocketSendBufferBytes },
		"SO_SNDBUF of client connections; -1 (gregor's default; Kafka's is 102400) or 0 leaves the OS's autotuned buffer"),
	byteCountKey("socket.receive.buffer.bytes", "-1", unlimitedOrAtLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.SocketReceiveBufferBytes },
		"SO_RCVBUF of client connections; -1 (gregor's default; Kafka's is 102400) or 0 leaves the OS's autotuned buffer"),
	integerKey("max.connections", int32Max, atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.MaxConnections },
		"client connections accepted at once"),
	integerKey("connections.max.idle.ms", "600000", positive[int64](), func(c *brokerConfig) *int64 { return &c.ConnectionsMaxIdleMs },
		"idle time after which a connection is closed"),
	byteCountKey("log.segment.bytes", "1073741824", integerRange[int32]{minimum: 1 << 20, maximum: math.MaxInt32},
		func(c *brokerConfig) *int32 { return &c.LogSegmentBytes }, "size at which a segment is rolled"),
	integerKey("log.roll.ms", "604800000", positive[int64](), func(c *brokerConfig) *int64 { return &c.LogRollMs },
		"age at which a segment is rolled (also log.roll.hours)"),
	integerKey("log.retention.ms", "604800000", unlimitedOrPositive[int64](), func(c *brokerConfig) *int64 { return &c.LogRetentionMs },
		"age after which segments are deleted; -1 keeps them"),
	byteCountKey("log.retention.bytes", "-1", unlimitedOrAtLeastZero[int64](), func(c *brokerConfig) *int64 { return &c.LogRetentionBytes },
		"partition size beyond which old segments are deleted; -1 keeps them"),
	integerKey("log.retention.check.interval.ms", "300000", positive[int64](), func(c *brokerConfig) *int64 { return &c.LogRetentionCheckIntervalMs },
		"how often retention runs"),
	integerKey("producer.id.expiration.ms", "86400000", positive[int64](), func(c *brokerConfig) *int64 { return &c.ProducerIDExpirationMs },
		"how long a partition remembers an idle producer id's sequences"),
	{Name: "log.cleanup.policy", Default: "delete", Doc: "delete old segments, compact by key, or both",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			list, expected, ok := parseChoiceList(v, []string{"delete", "compact"})
			c.LogCleanupPolicy = list
			return strings.Join(list, ","), expected, ok
		}},
	integerKey("log.cleaner.backoff.ms", "15000", positive[int64](), func(c *brokerConfig) *int64 { return &c.LogCleanerBackoffMs },
		"how often each compacted partition looks for a log to clean"),
	integerKey("log.cleaner.delete.retention.ms", "86400000", atLeastZero[int64](), func(c *brokerConfig) *int64 { return &c.LogCleanerDeleteRetentionMs },
		"how long compaction keeps tombstones"),
	booleanKey("log.cleaner.enable", "true", func(c *brokerConfig) *bool { return &c.LogCleanerEnable },
		"run the log cleaner, which compacts topics whose cleanup.policy has compact"),
	byteCountKey("log.index.interval.bytes", "4096", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.LogIndexIntervalBytes },
		"log bytes between offset index entries"),
	byteCountKey("log.index.size.max.bytes", "10485760", integerRange[int32]{minimum: 4, maximum: math.MaxInt32},
		func(c *brokerConfig) *int32 { return &c.LogIndexSizeMaxBytes }, "largest offset index file"),
	integerKey("log.flush.interval.messages", int64Max, positive[int64](), func(c *brokerConfig) *int64 { return &c.LogFlushIntervalMessages },
		"records appended between fsyncs of a partition"),
	integerKey("log.flush.interval.ms", int64Max, atLeastZero[int64](), func(c *brokerConfig) *int64 { return &c.LogFlushIntervalMs },
		"longest a record stays unsynced"),
	integerKey("log.flush.scheduler.interval.ms", int64Max, atLeastZero[int64](), func(c *brokerConfig) *int64 { return &c.LogFlushSchedulerIntervalMs },
		"how often partitions are checked for a time-based flush"),
	integerKey("log.flush.offset.checkpoint.interval.ms", "60000", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.LogFlushOffsetCheckpointMs },
		"how often the recovery point checkpoint is written"),
	integerKey("log.flush.start.offset.checkpoint.interval.ms", "60000", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.LogFlushStartOffsetCheckMs },
		"how often the log start offset checkpoint is written"),
	booleanKey("log.flush.group.commit", "false", func(c *brokerConfig) *bool { return &c.LogFlushGroupCommit },
		"fsync appends in groups before acknowledging them (survives machine crashes)"),
	byteCountKey("log.cache.bytes", "256MiB", atLeastZero[int64](), func(c *brokerConfig) *int64 { return &c.LogCacheBytes },
		"size of the block cache shared by all partitions; 0 disables it"),
	choiceKey("log.message.timestamp.type", "CreateTime", []string{"CreateTime", "LogAppendTime"},
		func(c *brokerConfig) *string { return &c.LogMessageTimestampType }, "which timestamp records keep"),
	choiceKey("compression.type", "producer", []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
		func(c *brokerConfig) *string { return &c.CompressionType }, "codec batches are stored in; producer keeps theirs"),
	booleanKey("unclean.leader.election.enable", "false", func(c *brokerConfig) *bool { return &c.UncleanLeaderElectionEnable },
		"let an out-of-sync replica become leader, losing data"),
	booleanKey("replica.truncate.on.fetch", "true", func(c *brokerConfig) *bool { return &c.ReplicaTruncateOnFetch },
		"after a leader change a follower fetches at once and truncates by its leader's diverging epoch (Fetch v12+) instead of asking "+
			"OffsetForLeaderEpoch first; turn it off while a node of an older build, whose leaders do not answer diverging epochs, may lead"),
	integerKey("replica.lag.time.max.ms", "30000", positive[int64](), func(c *brokerConfig) *int64 { return &c.ReplicaLagTimeMaxMs },
		"how long a follower may lag before leaving the ISR"),
	integerKey("replica.high.watermark.checkpoint.interval.ms", "5000", positive[int64](),
		func(c *brokerConfig) *int64 { return &c.HighWatermarkCheckpointMs },
		"how often the partitions' high watermarks are written to replication-offset-checkpoint"),
	integerKey("offsets.topic.num.partitions", "50", positive[int32](), func(c *brokerConfig) *int32 { return &c.OffsetsTopicNumPartitions },
		"partitions of __consumer_offsets"),
	integerKey("offsets.topic.replication.factor", "3", positive[int16](), func(c *brokerConfig) *int16 { return &c.OffsetsTopicReplication },
		"replicas of __consumer_offsets, capped to the brokers present (with a warning)"),
	integerKey("transaction.state.log.num.partitions", "50", positive[int32](), func(c *brokerConfig) *int32 { return &c.TxnStateLogNumPartitions },
		"partitions of __transaction_state"),
	integerKey("transaction.state.log.replication.factor", "3", positive[int16](), func(c *brokerConfig) *int16 { return &c.TxnStateLogReplication },
		"replicas of __transaction_state, capped to the brokers present (with a warning)"),
	integerKey("transaction.state.log.min.isr", "2", positive[int32](), func(c *brokerConfig) *int32 { return &c.TxnStateLogMinIsr },
		"min.insync.replicas of __transaction_state, capped to its replication factor"),
	byteCountKey("transaction.state.log.segment.bytes", "104857600", positive[int32](), func(c *brokerConfig) *int32 { return &c.TxnStateLogSegmentBytes },
		"segment size of __transaction_state"),
	integerKey("transaction.max.timeout.ms", "900000", positive[int32](), func(c *brokerConfig) *int32 { return &c.TxnMaxTimeoutMs },
		"longest transaction timeout a producer may ask for"),
	integerKey("transactional.id.expiration.ms", "604800000", positive[int32](), func(c *brokerConfig) *int32 { return &c.TxnIDExpirationMs },
		"how long a transactional id with no transaction open is kept"),
	integerKey("transaction.remove.expired.transaction.cleanup.interval.ms", "3600000", positive[int32](),
		func(c *brokerConfig) *int32 { return &c.TxnRemoveExpiredIntervalMs }, "how often idle transactional ids are checked for expiry"),
	integerKey("bootstrap.transaction.version", "2", integerRange[int16]{minimum: 0, maximum: 2},
		func(c *brokerConfig) *int16 { return &c.BootstrapTransactionVersion },
		"transaction.version a new cluster starts at (2: KIP-890 part 2); a cluster formed before keeps its own level"),
	integerKey("group.initial.rebalance.delay.ms", "3000", atLeastZero[int32](), func(c *brokerConfig) *int32 { return &c.GroupInitialRebalanceMs },
		"how long a new group waits for more members before its first rebalance"),
	integerKey("group.min.session.timeout.ms", "6000", positive[int32](), func(c *brokerConfig) *int32 { return &c.GroupMinSessionTimeoutMs },
		"shortest session timeout a group member may ask for"),
	integerKey("group.max.session.timeout.ms", "1800000", positive[int32](), func(c *brokerConfig) *int32 { return &c.GroupMaxSessionTimeoutMs },
		"longest session timeout a group member may ask for"),
	integerKey("group.max.size", int32Max, positive[int32](), func(c *brokerConfig) *int32 { return &c.GroupMaxSize },
		"members a classic group accepts"),
	integerKey("group.consumer.session.timeout.ms", "45000", positive[int32](), func(c *brokerConfig) *int32 { return &c.GroupConsumerSessionTimeoutMs },
		"session timeout of consumer group (KIP-848) members"),
	integerKey("group.consumer.heartbeat.interval.ms", "5000", positive[int32](), func(c *brokerConfig) *int32 { return &c.GroupConsumerHeartbeatMs },
		"heartbeat interval of consumer group (KIP-848) members"),
	integerKey("offsets.retention.minutes", "10080", positive[int32](), func(c *brokerConfig) *int32 { return &c.OffsetsRetentionMinutes },
		"how long the committed offsets of an empty group are kept"),
	integerKey("offsets.retention.check.interval.ms", "600000", positive[int64](), func(c *brokerConfig) *int64 { return &c.OffsetsRetentionCheckMs },
		"how often committed offsets are checked for expiry"),
	byteCountKey("offsets.topic.segment.bytes", "104857600", positive[int32](), func(c *brokerConfig) *int32 { return &c.OffsetsTopicSegmentBytes },
		"segment size of __consumer_offsets"),
	integerKey("offset.metadata.max.bytes", "4096", positive[int32](), func(c *brokerConfig) *int32 { return &c.OffsetMetadataMaxBytes },
		"largest metadata string an offset commit may carry"),
	{Name: "log.level", Default: "info", Doc: "least severe log level written: debug, info, warn, error",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			level, expected, ok := parseLogLevel(v)
			c.LogLevel = level
			return level.String(), expected, ok
		}},
	choiceKey("log.format", "console", []string{"json", "console"}, func(c *brokerConfig) *string { return &c.LogFormat },
		"log line encoding"),
	{Name: "metrics.listener", Default: "127.0.0.1:9644", Doc: "host:port serving /metrics; empty disables it",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			const expected = "host:port (e.g. 127.0.0.1:9644), or empty to disable metrics"
			v = strings.TrimSpace(v)
			if v == "" {
				c.MetricsListener = ""
				return "", expected, true
			}
			if _, _, ok := parseHostPort(v); !ok {
				return "", expected, false
			}
			c.MetricsListener = v
			return v, expected, true
		}},
	{Name: "debug.listener", Default: "", Doc: "host:port serving Go's profiling endpoints (net/http/pprof) under /debug/pprof/; empty (the default) disables it. Anyone who reaches it can read the broker's memory profiles: bind it to loopback",
		apply: func(c *brokerConfig, v string) (string, string, bool) {
			const expected = "host:port (e.g. 127.0.0.1:9645), or empty to disable profiling"
			v = strings.TrimSpace(v)
			if v == "" {
				c.DebugListener = ""
				return "", expected, true
			}
			if _, _, ok := parseHostPort(v); !ok {
				return "", expected, false
			}
			c.DebugListener = v
			return v, expected, true
		}},
}, slices.Concat(clusterConfigKeys, replicaFetchConfigKeys)...))

// unusedKafkaKeys are Kafka broker keys a stock server.properties carries
// that mean nothing to gregor: they are noted, not warned about.
var unusedKafkaKeys = []string{
	"num.network.threads", "num.io.threads", "num.replica.fetchers",
	"controller.quorum.bootstrap.servers", "inter.broker.listener.name", "zookeeper.connect",
	"zookeeper.connection.timeout.ms", "share.coordinator.state.topic.replication.factor",
	"share.coordinator.state.topic.min.isr",
	// Kafka's KRaft controller elects every partition not led by its
	// preferred replica at each imbalance check, as gregor's does: only
	// the ZooKeeper controller (gone in Kafka 4.0) waited for a broker's
	// imbalance to pass this percentage.
	"leader.imbalance.per.broker.percentage",
}

// configAlias is an older or alternative Kafka key for a known one. It
// applies only when its target (and every alias listed before it) is unset,
// as in Kafka (log.retention.ms beats .minutes beats .hours), or set only by
// the file while the alias comes from --set, which wins over the file.
type configAlias struct {
	Key        string
	Target     string
	Multiplier int64 // 0: the value is copied; otherwise an integer scaled into the target's unit
	Minimum    int64 // smallest integer value; a negative one means "unlimited" (-1) in the target
	// OldName marks gregor's own earlier name for Target, which Kafka does
	// not know: it is read as Target itself, and DescribeConfigs does not
	// list it.
	OldName bool
}

// configAliases are in order of precedence within each target.
var configAliases = []configAlias{
	{Key: "broker.id", Target: "node.id"},
	{Key: "log.dir", Target: "log.dirs"},
	{Key: "log.segment.ms", Target: "log.roll.ms", Multiplier: 1, Minimum: 1, OldName: true},
	{Key: "log.roll.hours", Target: "log.roll.ms", Multiplier: 3_600_000, Minimum: 1},
	{Key: "log.retention.minutes", Target: "log.retention.ms", Multiplier: 60_000, Minimum: math.MinInt64},
	{Key: "log.retention.hours", Target: "log.retention.ms", Multiplier: 3_600_000, Minimum: math.MinInt64},
}

// resolveConfigAliases folds each alias into its target when the target is
// unset (or only set by the file while the alias is an override), and
// removes every alias from latest. It returns Kafka's aliases given, as
// written: DescribeConfigs shows each under its own key, as Kafka does.
func resolveConfigAliases(latest map[string]configSetting) ([]configSetting, []error) {
	var errs []error
	var given []configSetting
	for _, a := range configAliases {
		s, ok := latest[a.Key]
		if !ok {
			continue
		}
		delete(latest, a.Key)
		if !a.OldName {
			given = append(given, configSetting{Key: a.Key, Value: strings.TrimSpace(s.Value), Source: s.Source, Override: s.Override})
		}
		if target, set := latest[a.Target]; set && (target.Override || !s.Override) {
			continue
		}
		value, err := a.convert(s.Value)
		if err != nil {
			errs = append(errs, &configValueError{Key: a.Key, Value: s.Value, Source: s.Source, Expected: err.Error()})
			continue
		}
		alias := a.Key
		if a.OldName {
			alias = "" // the node is given the value under Target's name
		}
		latest[a.Target] = configSetting{Key: a.Target, Value: value, Source: s.Source + " as " + a.Key, Override: s.Override, Alias: alias}
	}
	return given, errs
}

// convert turns the alias's value into the target's.
func (a configAlias) convert(value string) (string, error) {
	if a.Multiplier == 0 {
		return value, nil
	}
	r := integerRange[int64]{minimum: a.Minimum, maximum: math.MaxInt64 / a.Multiplier}
	v, _, ok := parseInteger(value, r)
	if !ok {
		return "", fmt.Errorf("%s", r.describe("an integer"))
	}
	if v < 0 {
		return "-1", nil
	}
	return strconv.FormatInt(v*a.Multiplier, 10), nil
}

// loggerSettings reads only log.level and log.format from settings, falling
// back to the defaults on a bad value (building the whole configuration
// reports it), so that the configuration's own warnings use the configured
// logger.
func loggerSettings(settings []configSetting) (zapcore.Level, string) {
	level, format := zapcore.InfoLevel, "console"
	for _, s := range settings {
		switch s.Key {
		case "log.level":
			if l, _, ok := parseLogLevel(s.Value); ok {
				level = l
			}
		case "log.format":
			if f, _, ok := parseChoice(s.Value, []string{"json", "console"}); ok {
				format = f
			}
		}
	}
	return level, format
}

package actors

import (
	"io"

	"gregor/logstore/vfs"
)

// Config is what a node needs to start. The gregor command builds it from
// server.properties (Kafka's names are given beside each field).
type Config struct {
	// NodeID is node.id.
	NodeID int32
	// ListenAddress is the host:port of listeners (one PLAINTEXT listener).
	ListenAddress string
	// AdvertisedHost and AdvertisedPort are advertised.listeners; empty or
	// zero take the bound address.
	AdvertisedHost string
	AdvertisedPort int32
	// DataDir is the first of log.dirs.
	DataDir string
	// AutoCreateTopics is auto.create.topics.enable.
	AutoCreateTopics bool
	// NumPartitions is num.partitions, for auto-created topics and
	// CreateTopics without a count.
	NumPartitions int32
	// DefaultReplicationFactor is default.replication.factor.
	DefaultReplicationFactor int16
	// DeleteTopicEnable is delete.topic.enable.
	DeleteTopicEnable bool
	// StaticBrokerConfigs are the server.properties settings (file, --set
	// and embedded defaults) by Kafka key. DescribeConfigs shows them, and
	// those that are broker-wide topic defaults (log.retention.ms for
	// retention.ms, message.max.bytes for max.message.bytes, ...) apply to
	// every topic without its own value.
	StaticBrokerConfigs map[string]string
	// CacheBytes is the size of the node's block cache (log.cache.bytes);
	// 0 disables the cache.
	CacheBytes int64
	// GroupCommit is log.flush.group.commit: acks=all replies wait for an
	// fsync covering the batch, many appends sharing one fsync.
	GroupCommit bool
	// RequestMaxBytes is socket.request.max.bytes.
	RequestMaxBytes int32
	// MaxConnections is max.connections.
	MaxConnections int
	// ConnectionsMaxIdleMs is connections.max.idle.ms.
	ConnectionsMaxIdleMs int64
	// RetentionCheckIntervalMs is log.retention.check.interval.ms: how often
	// each partition deletes the segments its retention lets go (and, with
	// compaction, looks for a log to clean). Zero means Kafka's 300000.
	RetentionCheckIntervalMs int64
	// DisableLogCleaner is log.cleaner.enable=false: compacted topics are
	// not cleaned (their retention still runs).
	DisableLogCleaner bool
	// HighWatermarkCheckpointIntervalMs is
	// replica.high.watermark.checkpoint.interval.ms: how often the
	// partitions' high watermarks are written to the log directory's
	// replication-offset-checkpoint. Zero means Kafka's 5000.
	HighWatermarkCheckpointIntervalMs int64
	// Groups are the consumer group settings.
	Groups GroupConfig
	// MetricsListener is the host:port of the /metrics endpoint; empty
	// disables it.
	MetricsListener string
	// DebugListener is debug.listener: the host:port serving Go's pprof
	// endpoints under /debug/pprof/; empty (the default) disables it.
	DebugListener string
	// FS is the filesystem; nil means the operating system's.
	FS vfs.FS
	// Clock is the time the node's shells read; nil means the system clock.
	Clock Clock
	// Entropy is the node's only source of randomness (topic and cluster
	// ids); nil means crypto/rand.
	Entropy io.Reader

	// poisonReleasedBuffers makes netio overwrite every request buffer
	// handed back to its pool, so a read after release fails a test.
	poisonReleasedBuffers bool
}

package actors

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
)

// GroupConfig holds a node's consumer group settings (Kafka's names beside
// each field). Zero fields take Kafka's defaults, except
// InitialRebalanceDelayMs, where zero is no delay.
type GroupConfig struct {
	// OffsetsTopicPartitions is offsets.topic.num.partitions (50).
	OffsetsTopicPartitions int32
	// OffsetsTopicReplicationFactor is offsets.topic.replication.factor
	// (3), capped to the brokers present with a warning.
	OffsetsTopicReplicationFactor int16
	// OffsetsTopicSegmentBytes is offsets.topic.segment.bytes (100 MiB).
	OffsetsTopicSegmentBytes int32
	// InitialRebalanceDelayMs is group.initial.rebalance.delay.ms.
	InitialRebalanceDelayMs int64
	// MinSessionTimeoutMs and MaxSessionTimeoutMs are
	// group.min.session.timeout.ms (6000) and group.max.session.timeout.ms
	// (1800000).
	MinSessionTimeoutMs, MaxSessionTimeoutMs int32
	// MaxSize is group.max.size.
	MaxSize int
	// OffsetsRetentionMs is offsets.retention.minutes in ms (7 days).
	OffsetsRetentionMs int64
	// OffsetsRetentionCheckIntervalMs is
	// offsets.retention.check.interval.ms (600000).
	OffsetsRetentionCheckIntervalMs int64
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes (4096).
	OffsetMetadataMaxBytes int
	// ConsumerSessionTimeoutMs and ConsumerHeartbeatIntervalMs are
	// group.consumer.session.timeout.ms (45000) and
	// group.consumer.heartbeat.interval.ms (5000), for KIP-848 groups.
	ConsumerSessionTimeoutMs, ConsumerHeartbeatIntervalMs int32
	// LeaseHoldMs bounds how long a coordinator holds a request while the
	// broker lease has lapsed (group_lease_hold.go); 0 means
	// groups.DefaultLeaseHoldMs. Not a Kafka setting.
	LeaseHoldMs int64
}

// Kafka's defaults for the offsets topic.
const (
	defaultOffsetsTopicPartitions        = 50
	defaultOffsetsTopicReplicationFactor = 3
	defaultOffsetsTopicSegmentBytes      = 100 << 20
	// offsetsCommitTimeoutMs is offsets.commit.timeout.ms: how long an
	// append to __consumer_offsets may wait for its acknowledgement.
	offsetsCommitTimeoutMs = 5000
)

func (c GroupConfig) withDefaults() GroupConfig {
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = defaultOffsetsTopicPartitions
	}
	if c.OffsetsTopicReplicationFactor <= 0 {
		c.OffsetsTopicReplicationFactor = defaultOffsetsTopicReplicationFactor
	}
	if c.OffsetsTopicSegmentBytes <= 0 {
		c.OffsetsTopicSegmentBytes = defaultOffsetsTopicSegmentBytes
	}
	return c
}

// coreConfig is what each coordinator core is started with.
func (c GroupConfig) coreConfig(n *Node) groups.Config {
	delay := c.InitialRebalanceDelayMs
	if delay <= 0 {
		delay = -1 // the core's "none"
	}
	return groups.Config{
		InitialRebalanceDelayMs: delay, MinSessionTimeoutMs: c.MinSessionTimeoutMs, MaxSessionTimeoutMs: c.MaxSessionTimeoutMs,
		MaxSize: c.MaxSize, OffsetsRetentionMs: c.OffsetsRetentionMs, OffsetsRetentionCheckIntervalMs: c.OffsetsRetentionCheckIntervalMs,
		OffsetMetadataMaxBytes: c.OffsetMetadataMaxBytes,
		Consumer:               groups.ConsumerConfig{SessionTimeoutMs: c.ConsumerSessionTimeoutMs, HeartbeatIntervalMs: c.ConsumerHeartbeatIntervalMs},
		Entropy:                n.cfg.Entropy,
	}
}

// groupConfigEntries are a consumer group's configs as DescribeConfigs of a
// GROUP resource shows them (Kafka 4's GroupConfig, for any group name):
// the KIP-848 session timeout and heartbeat interval. No group has values
// of its own in gregor (IncrementalAlterConfigs of a group is not served),
// so each is the broker's group.consumer.* setting, read-only.
func (c GroupConfig) groupConfigEntries() []cluster.ConfigEntry {
	consumer := groups.ConsumerConfig{SessionTimeoutMs: c.ConsumerSessionTimeoutMs, HeartbeatIntervalMs: c.ConsumerHeartbeatIntervalMs}.Effective()
	entry := func(name string, v int32, doc string) cluster.ConfigEntry {
		return cluster.ConfigEntry{Name: name, Value: strconv.Itoa(int(v)), Source: kmsg.ConfigSourceDefaultConfig,
			Type: cluster.ConfigInt, ReadOnly: true, Doc: doc}
	}
	return []cluster.ConfigEntry{
		entry("consumer.heartbeat.interval.ms", consumer.HeartbeatIntervalMs,
			"The heartbeat interval given to the members of a consumer group (group.consumer.heartbeat.interval.ms)."),
		entry("consumer.session.timeout.ms", consumer.SessionTimeoutMs,
			"The timeout to detect client failures when using the consumer group protocol (group.consumer.session.timeout.ms)."),
	}
}

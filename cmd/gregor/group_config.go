package main

import "gregor/actors"

// groupConfig is the node's consumer group settings from the broker
// configuration.
func groupConfig(c *brokerConfig) actors.GroupConfig {
	return actors.GroupConfig{
		OffsetsTopicPartitions:          c.OffsetsTopicNumPartitions,
		OffsetsTopicReplicationFactor:   c.OffsetsTopicReplication,
		OffsetsTopicSegmentBytes:        c.OffsetsTopicSegmentBytes,
		InitialRebalanceDelayMs:         int64(c.GroupInitialRebalanceMs),
		MinSessionTimeoutMs:             c.GroupMinSessionTimeoutMs,
		MaxSessionTimeoutMs:             c.GroupMaxSessionTimeoutMs,
		MaxSize:                         int(c.GroupMaxSize),
		OffsetsRetentionMs:              int64(c.OffsetsRetentionMinutes) * 60_000,
		OffsetsRetentionCheckIntervalMs: c.OffsetsRetentionCheckMs,
		OffsetMetadataMaxBytes:          int(c.OffsetMetadataMaxBytes),
		ConsumerSessionTimeoutMs:        c.GroupConsumerSessionTimeoutMs,
		ConsumerHeartbeatIntervalMs:     c.GroupConsumerHeartbeatMs,
	}
}

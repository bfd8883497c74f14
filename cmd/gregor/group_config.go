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

// txnConfig is the node's transaction coordinator settings from the broker
// configuration.
func txnConfig(c *brokerConfig) actors.TxnConfig {
	return actors.TxnConfig{
		StateLogPartitions:          c.TxnStateLogNumPartitions,
		StateLogReplicationFactor:   c.TxnStateLogReplication,
		StateLogMinISR:              c.TxnStateLogMinIsr,
		StateLogSegmentBytes:        c.TxnStateLogSegmentBytes,
		MaxTimeoutMs:                c.TxnMaxTimeoutMs,
		IDExpirationMs:              int64(c.TxnIDExpirationMs),
		RemoveExpiredIntervalMs:     int64(c.TxnRemoveExpiredIntervalMs),
		BootstrapTransactionVersion: &c.BootstrapTransactionVersion,
	}
}

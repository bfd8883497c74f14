package main

import "gregor/actors"

// defaultGroupConfig is what the embedded defaults give the node.
var defaultGroupConfig = actors.GroupConfig{
	OffsetsTopicPartitions: 50, OffsetsTopicReplicationFactor: 3, OffsetsTopicSegmentBytes: 100 << 20,
	InitialRebalanceDelayMs: 3000, MinSessionTimeoutMs: 6000, MaxSessionTimeoutMs: 1_800_000, MaxSize: 1<<31 - 1,
	OffsetsRetentionMs: 7 * 24 * 60 * 60_000, OffsetsRetentionCheckIntervalMs: 600_000, OffsetMetadataMaxBytes: 4096,
	ConsumerSessionTimeoutMs: 45_000, ConsumerHeartbeatIntervalMs: 5000,
}

// defaultTxnConfig is what an empty configuration gives the node's
// transaction coordinators.
var defaultTxnConfig = actors.TxnConfig{
	StateLogPartitions: 50, StateLogReplicationFactor: 3, StateLogMinISR: 2, StateLogSegmentBytes: 100 << 20,
	MaxTimeoutMs: 900_000, IDExpirationMs: 7 * 24 * 60 * 60_000, RemoveExpiredIntervalMs: 3_600_000,
	BootstrapTransactionVersion: func() *int16 { v := int16(2); return &v }(),
}

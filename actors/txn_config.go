package actors

import (
	"gregor/cluster"
	"gregor/txn"
)

// TxnConfig holds a node's transaction coordinator settings (Kafka's names
// beside each field). Zero fields take Kafka's defaults.
type TxnConfig struct {
	// StateLogPartitions is transaction.state.log.num.partitions (50).
	StateLogPartitions int32
	// StateLogReplicationFactor is
	// transaction.state.log.replication.factor (3), capped to the brokers
	// present with a warning.
	StateLogReplicationFactor int16
	// StateLogMinISR is transaction.state.log.min.isr (2), capped to the
	// replication factor.
	StateLogMinISR int32
	// StateLogSegmentBytes is transaction.state.log.segment.bytes
	// (100 MiB).
	StateLogSegmentBytes int32
	// MaxTimeoutMs is transaction.max.timeout.ms (900000).
	MaxTimeoutMs int32
	// IDExpirationMs is transactional.id.expiration.ms (7 days).
	IDExpirationMs int64
	// RemoveExpiredIntervalMs is
	// transaction.remove.expired.transaction.cleanup.interval.ms (1 hour).
	RemoveExpiredIntervalMs int64
	// BootstrapTransactionVersion is the transaction.version a new cluster
	// starts at (nil: the highest this build supports, 2); a cluster named
	// before keeps the level its metadata log holds.
	BootstrapTransactionVersion *int16
	// LeaseHoldMs bounds how long a coordinator holds a request while the
	// broker lease has lapsed (txn_lease_hold.go); 0 means
	// groups.DefaultLeaseHoldMs. Not a Kafka setting.
	LeaseHoldMs int64
}

// bootstrapFeatures are the feature levels a new cluster starts at: this
// build's highest, transaction.version as configured.
func (c TxnConfig) bootstrapFeatures() map[string]int16 {
	if c.BootstrapTransactionVersion == nil {
		return nil
	}
	levels := cluster.DefaultBootstrapFeatures()
	levels[cluster.TransactionVersionFeature] = *c.BootstrapTransactionVersion
	return levels
}

// Kafka's defaults for the transaction state topic.
const (
	defaultStateLogPartitions        = 50
	defaultStateLogReplicationFactor = 3
	defaultStateLogSegmentBytes      = 100 << 20
	defaultStateLogMinISR            = 2
	// txnAppendTimeoutMs is how long an append to __transaction_state may
	// wait for its acknowledgement (Kafka's request.timeout.ms for it).
	txnAppendTimeoutMs = 30000
	// markerTimeoutMs bounds one WriteTxnMarkers request.
	markerTimeoutMs = 30000
	// txnCompleteDelayMs is how long a transaction's completion record
	// waits for its producer's next add to share the append
	// (txn.Config.CompleteDelayMs): a producer committing one transaction
	// after another starts the next within a few round trips.
	txnCompleteDelayMs = 20
)

func (c TxnConfig) withDefaults() TxnConfig {
	if c.StateLogPartitions <= 0 {
		c.StateLogPartitions = defaultStateLogPartitions
	}
	if c.StateLogReplicationFactor <= 0 {
		c.StateLogReplicationFactor = defaultStateLogReplicationFactor
	}
	if c.StateLogMinISR <= 0 {
		c.StateLogMinISR = defaultStateLogMinISR
	}
	if c.StateLogSegmentBytes <= 0 {
		c.StateLogSegmentBytes = defaultStateLogSegmentBytes
	}
	return c
}

// coreConfig is what each coordinator core is started with: coordinator
// epoch is the leader epoch of its partition.
func (c TxnConfig) coreConfig(n *Node, coordinatorEpoch int32) txn.Config {
	return txn.Config{CoordinatorEpoch: coordinatorEpoch, MaxTimeoutMs: c.MaxTimeoutMs, IDExpirationMs: c.IDExpirationMs,
		ExpiryCheckIntervalMs: c.RemoveExpiredIntervalMs, OffsetsPartitions: n.groups.cfg.OffsetsTopicPartitions,
		CompleteDelayMs: txnCompleteDelayMs}
}

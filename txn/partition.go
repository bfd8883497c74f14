package txn

import "gregor/logstore/internaltopic"

// StateTopic is the internal topic holding transaction metadata.
const StateTopic = internaltopic.TransactionState

// PartitionFor is the __transaction_state partition, of partitions, that
// holds transactionalID, as Kafka's TransactionStateManager.partitionFor
// computes it (internaltopic.PartitionFor).
func PartitionFor(transactionalID string, partitions int32) int32 {
	return internaltopic.PartitionFor(transactionalID, partitions)
}

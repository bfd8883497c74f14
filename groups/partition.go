package groups

import "gregor/logstore/internaltopic"

// OffsetsTopic is the internal topic holding group metadata and committed
// offsets.
const OffsetsTopic = internaltopic.ConsumerOffsets

// PartitionFor is the __consumer_offsets partition, of partitions, that
// holds group, as Kafka's GroupMetadataManager.partitionFor computes it
// (internaltopic.PartitionFor).
func PartitionFor(group string, partitions int32) int32 {
	return internaltopic.PartitionFor(group, partitions)
}

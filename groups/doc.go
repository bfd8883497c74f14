// Package groups is the group coordinator core: the consumer groups of one
// __consumer_offsets partition and their committed offsets. Coordinator
// serves the classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// static membership, session and rebalance timeouts, generation fencing),
// KIP-848 consumer groups (ConsumerGroupHeartbeat with the assignment
// computed here; offset commits fenced by KIP-1251's assignment epochs),
// the offset and administration APIs, and TxnOffsetCommit
// (offsets pending in a transaction until its marker, TransactionMarker).
// It takes requests,
// the partition's records at load, append outcomes and ticks with the time,
// and returns replies and records to append (Ready) and its next deadline.
// A reply is handed out only once every record asked before it is
// acknowledged, and a failed append makes the core revert: it answers what
// it owes with errors and asks the shell to load a new one from the
// partition (Ready.Reload), so no client is told of state a failover loses.
// An offset commit or a classic group's assignment the partition refused
// unwritten (too large, a fenced producer) fails alone instead: its state
// never applied (refused_appends.go).
// Its records are Kafka's (OffsetCommitKey/Value, GroupMetadataKey/Value and
// the consumer group records), so its state is whatever replaying its
// partition gives. PartitionFor says which partition holds a group.
//
// Files: coordinator.go (the core, its config and effects), group.go (group
// and member state), classic_join.go and classic_members.go (the classic
// protocol), offsets.go (offset commits, fetches, deletes, expiry), admin.go
// (ListGroups, DescribeGroups, DeleteGroups, summaries), txn_offsets.go
// (TxnOffsetCommit and the pending transactional offsets), consumer*.go
// (KIP-848) and assignors.go (its server assignors), records.go and
// replay.go (the partition's records), replies.go (replies held for their
// records, the revert after a failed append), refused_appends.go (an append
// refused unwritten fails alone), tombstones.go (deletions appended in
// batches of bounded size), topics.go (the topics it is told of), errors.go
// (answers for a request that cannot be served), partition.go (OffsetsTopic,
// PartitionFor; the one copy of Kafka's key-to-partition hash is
// logstore/internaltopic, which txn shares), lease_gate.go (LeaseGate: what
// a group or transaction coordinator's shell does with requests and ticks
// while its broker lease has lapsed).
//
// It may import logstore only; never actors, netio, cluster, txn or sim. Its
// cores are plain values with no goroutines, clocks, sockets, files or
// randomness of their own (purity_test.go at the repository root enforces
// this); the caller serialises every call.
package groups

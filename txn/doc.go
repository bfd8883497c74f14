// Package txn is the transaction coordinator core: the transactional ids of
// one __transaction_state partition, their producer ids and epochs, their
// transactions and the markers that end them. Coordinator serves
// InitProducerId with a transactional id (epoch bumps, fencing, producer id
// rotation), AddPartitionsToTxn (including the verification-only form that
// brokers send, KIP-890 part 1), AddOffsetsToTxn, EndTxn (with the epoch
// bump per transaction of KIP-890 part 2 for clients that negotiate EndTxn
// v5), DescribeTransactions and ListTransactions. It aborts transactions
// left open past their timeout and forgets idle transactional ids. Adds of
// a producer's next transaction that come while the markers of its last
// are written, or while another add is appended, wait and go as one; the
// completion of a transaction and the opening of the next share an append.
//
// It takes requests, the partition's records at load, append outcomes,
// producer ids it asked for, marker outcomes and ticks with the time, and
// returns (Ready) replies, records to append, producer ids to allocate,
// transaction markers to write and the partitions that joined transactions
// (so their leaders need not verify the first produce), with its next
// deadline. Its records are
// Kafka's (TxnMetadataKey/Value), so tools that read __transaction_state
// read ours, and its state is whatever replaying its partition gives.
//
// Files: coordinator.go (the core, its config and effects), metadata.go (one
// transactional id's state and its transitions), records.go (the partition's
// records and batches), init.go (InitProducerId), add.go
// (AddPartitionsToTxn, AddOffsetsToTxn), end.go (EndTxn, markers,
// completion, timeouts, expiry), complete.go (a completion record that waits
// for the producer's next add, to share its append), describe.go
// (DescribeTransactions, ListTransactions), errors.go (answers for a request
// that cannot be served), partition.go (StateTopic, PartitionFor, over
// logstore/internaltopic, which groups shares); and for the shells,
// production's and the simulator's alike, append_window.go (AppendWindow:
// the appends in flight, their outcomes handed back in order) and
// ask_code.go (AskCode: what a partition leader answers a produce whose
// coordinator could not vouch for it).
//
// It may import logstore only; never actors, netio, cluster, groups or sim.
// Its cores are plain values with no goroutines, clocks, sockets, files or
// randomness of their own (purity_test.go at the repository root enforces
// this); the caller serialises every call.
package txn

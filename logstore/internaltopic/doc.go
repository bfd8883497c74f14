// Package internaltopic names Kafka's internal topics, __consumer_offsets and
// __transaction_state, and says which of a topic's partitions holds a
// coordinator key (a group id or a transactional id), as Kafka computes it.
//
// It also holds what the two coordinators of these topics have in common:
// the Time their cores are handed, the RequestID and AppendID under which
// they are asked and ask for appends, and the Record they append.
//
// The group and transaction cores both need these (a transaction's
// AddOffsetsToTxn adds the group's __consumer_offsets partition), and cores
// may not import each other, so the one copy lives here, below them both
// (DESIGN.md: cmd → actors → netio, cluster, groups, txn → logstore).
//
// It imports nothing of gregor. Everything in it is a pure function, a
// constant or a plain value type, safe for concurrent use.
package internaltopic

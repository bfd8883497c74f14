package actors

import "github.com/asynkron/protoactor-go/actor"

// The transaction markers bound for a partition actor on this node, from
// every coordinator on the node and from the WriteTxnMarkers requests of
// other brokers' coordinators, go through the node's produce queues
// (partition_produce_queue.go), as produces do: the markers and produces
// that come while a partition's batch waits in its mailbox join that
// batch, and the partition writes them all in one append (one write).
// Transactions that end together (several producers committing at about
// the same time) share a partition's marker append, and a marker shares
// its append with the produces of other producers that reach the
// partition meanwhile (the next transactions' records), where markers had
// an append of their own before.
//
// Markers and produces keep the order in which they were sent to the
// partition. A marker joining a batch already in the mailbox goes ahead of
// what was sent to the partition after that batch and not taken yet.
// Nothing a marker must follow can be among it: the transaction's own data
// was answered before its EndTxn, and its producer's next transaction (its
// adds and produces) starts only once every marker of this one is written.

// queueMarker sends msg, a marker's produce, to the partition actor pid
// through the node's produce queues. A marker is one small record: an idle
// partition is run by runs, on the coordinator's goroutine once it sent
// all its markers (inlineRuns), rather than on a worker woken for it
// (smallAppendBytes), unless its log syncs after appends; a busy one
// takes it with what it queued.
func (n *Node) queueMarker(pid *actor.PID, msg *producePartition, runs *inlineRuns) {
	if !n.runsSmall(pid) {
		runs = nil
	}
	n.produceQueues.sendTo(n.system.Root, pid, msg, runs != nil, runs)
}

package actors

// A transaction coordinator's mailbox (inlineMailbox) runs the messages
// below on their sender's goroutine when it finds the coordinator idle, as
// a partition actor's does (partition_mailbox.go). Their senders would go
// back to waiting at once: a connection's reader (a client's EndTxn, a
// broker's AddPartitionsToTxn), a partition leader asking for its
// produce's partitions, the __transaction_state partition answering an
// append, a leader's answer to markers (an inter-broker connection's
// reader, or a local partition). Handed to a worker, each woke a goroutine,
// and often an idle thread of the Go scheduler: about ten times per
// transaction, on the chain of appends and markers that a transaction
// waits for. A message sent while the coordinator runs is queued as
// before; the coordinator's own sends (to partitions, to other brokers,
// its replies) never wait for it, so running it on a sender that is itself
// an actor (a partition) cannot deadlock. Ticks, loads and producer ids
// still go to a worker.
//
// Likewise what the coordinator sends on: its appends to its
// __transaction_state partition (flushAppends) and the last of its
// markers to partitions of its node (writeMarkers) run on its goroutine
// when their partition is idle, as a Produce's last partition runs on its
// connection's reader (runProduces), rather than waking a worker each.

func (m *txnRequest) runsInline() bool      { return m.inline }
func (*txnLocalAsk) runsInline() bool       { return true }
func (*txnAppended) runsInline() bool       { return true }
func (*txnMarkersWritten) runsInline() bool { return true }

package actors

import "gregor/txn"

// coordinatorAppendsInFlight is how many appends a transaction
// coordinator has in flight to its __transaction_state partition. With
// one, the records of a transactional id waited for another id's append of
// the same partition to be acknowledged (a replication round): at four
// transactional producers, two of whose ids shared a partition, 26-32% of
// that coordinator's appends waited, 2.3-3.1 ms each, against a ~2 ms
// append. Kafka's coordinator does not wait for one append before the
// next either.
const coordinatorAppendsInFlight = 2

// flushAppends writes the batches the window lets go to the partition
// (acks=all), through the node's produce queues, so that batches sent
// while the partition is busy join its next append. A small batch (most
// are: a transaction's state) an idle partition appends on the
// coordinator's goroutine (smallAppendBytes); its answer then waits in the
// coordinator's mailbox for this message to end.
//
// That run is made as the sender's deferred run (inlineRuns), as a
// Produce's and a marker's are, so that the partition takes the batch
// without yielding first (partitionActor.yieldsBefore): nobody else
// writes the partition, and the coordinator, the only one who could add to
// the batch, is the goroutine that would yield. The yield would cost a
// single producer's 100-record transactions two trips through the
// scheduler's global run queue each (one before the add's append, one
// before PrepareCommit's), each waking an idle thread: measured, about a
// tenth of the broker's CPU per transaction, and the latency of both
// round trips.
func (a *txnCoordinator) flushAppends() {
	for b := a.appends.Next(); b != nil; b = a.appends.Next() {
		self, root := a.self, a.x.n.system.Root
		batch := txn.EncodeBatch(b.Records, a.x.n.cfg.Clock.Now().WallMs)
		msg := &producePartition{records: batch, ownRecords: true, acks: -1, timeoutMs: txnAppendTimeoutMs,
			reply: func(res producePartitionResult) { root.Send(self, &txnAppended{batch: b, code: res.errorCode}) }}
		send := func() {
			runs := smallRuns(len(batch) <= smallAppendBytes && a.x.n.runsSmall(a.partitionPID))
			a.x.n.produceQueues.sendTo(root, a.partitionPID, msg, runs != nil, runs)
			runs.run()
		}
		if hold := a.x.holdAppend.Load(); hold != nil && (*hold)(send) {
			continue
		}
		send()
	}
}

// appended takes batch b's outcome and hands the core the outcomes of the
// batches due, in the order they were sent (txn.AppendWindow).
func (a *txnCoordinator) appended(b *txn.AppendBatch, code int16) {
	for _, done := range a.appends.Answered(b, code) {
		for _, id := range done.IDs {
			a.core.Appended(id, done.Code, a.now())
		}
	}
}

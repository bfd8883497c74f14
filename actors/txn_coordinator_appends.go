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

// txnAppendBatch is one append of the core's queued appends: its records
// went to the partition as one batch, and their outcome, once answered,
// waits for the batches sent before it.
type txnAppendBatch struct {
	ids      []txn.AppendID
	answered bool
	code     int16
}

// flushAppends writes the queued appends to the partition as one batch
// (acks=all) unless every slot is taken; through the node's produce
// queues, so that batches sent while the partition is busy join its next
// append.
func (a *txnCoordinator) flushAppends() {
	if len(a.appending) >= coordinatorAppendsInFlight || len(a.queued) == 0 {
		return
	}
	count := 0
	for _, ap := range a.queued {
		count += len(ap.Records)
	}
	records, ids := make([]txn.Record, 0, count), make([]txn.AppendID, 0, len(a.queued))
	for _, ap := range a.queued {
		records = append(records, ap.Records...)
		ids = append(ids, ap.ID)
	}
	b := &txnAppendBatch{ids: ids}
	a.appending = append(a.appending, b)
	a.queued = nil
	self, root := a.self, a.x.n.system.Root
	batch := txn.EncodeBatch(records, a.x.n.cfg.Clock.Now().WallMs)
	msg := &producePartition{records: batch, ownRecords: true, acks: -1, timeoutMs: txnAppendTimeoutMs,
		reply: func(res producePartitionResult) { root.Send(self, &txnAppended{batch: b, code: res.errorCode}) }}
	send := func() { a.x.n.produceQueues.send(root, a.partitionPID, msg) }
	if hold := a.x.holdAppend.Load(); hold != nil && (*hold)(send) {
		return
	}
	send()
}

// appended takes batch b's outcome and hands the core the outcomes of the
// batches answered, in the order they were sent: a record is reported
// appended only once every record before it in the partition is
// reported (an acks=all answer of a later batch normally comes after the
// earlier ones' anyway).
func (a *txnCoordinator) appended(b *txnAppendBatch, code int16) {
	b.answered, b.code = true, code
	for len(a.appending) > 0 && a.appending[0].answered {
		done := a.appending[0]
		a.appending = a.appending[1:]
		for _, id := range done.ids {
			a.core.Appended(id, done.code, a.now())
		}
	}
}

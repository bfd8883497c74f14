package actors

import (
	"gregor/cluster"
	"gregor/groups"
)

// appendBatchBytes bounds the records of one batch the coordinator writes
// (max.message.bytes is about 1 MiB).
const appendBatchBytes = 512 << 10

// flushAppends writes the queued appends to the partition as one batch,
// like a produce with acks=all, unless a batch is being written; the
// partition's answer comes back as groupAppended. A batch takes queued
// appends up to appendBatchBytes (at least one).
func (a *groupCoordinator) flushAppends() {
	if a.appending != nil || len(a.queued) == 0 {
		return
	}
	if ap := a.queued[0]; ap.Producer != nil {
		a.flushTransactional(ap)
		return
	}
	var records []groups.Record
	size, n := 0, 0
	for _, ap := range a.queued {
		if ap.Producer != nil {
			break // it goes alone, next
		}
		apSize := 0
		for _, r := range ap.Records {
			apSize += len(r.Key) + len(r.Value)
		}
		if n > 0 && size+apSize > appendBatchBytes {
			break
		}
		records = append(records, ap.Records...)
		a.appending = append(a.appending, ap.ID)
		size += apSize
		n++
	}
	a.queued = a.queued[n:]
	self, root, ids := a.self, a.g.n.system.Root, a.appending
	batch := groups.EncodeBatch(records, a.g.n.cfg.Clock.Now().WallMs)
	root.Send(a.partitionPID, &producePartition{records: batch, acks: -1, timeoutMs: offsetsCommitTimeoutMs,
		reply: func(res producePartitionResult) { root.Send(self, &groupAppended{ids: ids, code: res.errorCode}) }})
}

// flushTransactional writes one transactional append of the core (a
// TxnOffsetCommit's offsets) as its own batch of the producer.
func (a *groupCoordinator) flushTransactional(ap groups.Append) {
	a.queued = a.queued[1:]
	a.appending = []groups.AppendID{ap.ID}
	self, root, ids := a.self, a.g.n.system.Root, a.appending
	batch := groups.EncodeTxnBatch(ap.Records, a.g.n.cfg.Clock.Now().WallMs, *ap.Producer)
	root.Send(a.partitionPID, &producePartition{records: batch, acks: -1, timeoutMs: offsetsCommitTimeoutMs,
		transactionalID: ap.Producer.TransactionalID, txnOperation: cluster.TxnOperationForTxnOffsetCommit(ap.Producer.TxnOffsetCommitVersion),
		reply: func(res producePartitionResult) { root.Send(self, &groupAppended{ids: ids, code: res.errorCode}) }})
}

package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore/internaltopic"
)

// appendBatchBytes bounds the records of one batch the coordinator writes
// (max.message.bytes is about 1 MiB).
const appendBatchBytes = 512 << 10

// flushAppends writes the queued appends to the partition as one batch,
// like a produce with acks=all, unless a batch is being written; the
// partition's answer comes back as groupAppended. A batch takes queued
// appends up to appendBatchBytes (at least one), or one alone after a
// merged batch was refused for its size (appended).
func (a *groupCoordinator) flushAppends() {
	if a.appending != nil || len(a.queued) == 0 {
		return
	}
	if ap := a.queued[0]; ap.Producer != nil {
		a.alone = max(a.alone-1, 0)
		a.flushTransactional(ap)
		return
	}
	size, n, count := 0, 0, 0
	for _, ap := range a.queued {
		if ap.Producer != nil || n > 0 && a.alone > 0 {
			break // it goes alone, next
		}
		apSize := 0
		for _, r := range ap.Records {
			apSize += len(r.Key) + len(r.Value)
		}
		if n > 0 && size+apSize > appendBatchBytes {
			break
		}
		size += apSize
		count += len(ap.Records)
		n++
	}
	records := a.queued[0].Records // one append: its records as they are
	if n > 1 {
		records = make([]internaltopic.Record, 0, count)
		for _, ap := range a.queued[:n] {
			records = append(records, ap.Records...)
		}
	}
	a.appending = make([]internaltopic.AppendID, 0, n)
	for _, ap := range a.queued[:n] {
		a.appending = append(a.appending, ap.ID)
	}
	a.merged = append([]groups.Append(nil), a.queued[:n]...)
	a.queued = a.queued[n:]
	a.alone = max(a.alone-1, 0)
	self, root, ids := a.self, a.g.n.system.Root, a.appending
	batch := groups.EncodeBatch(records, a.g.n.cfg.Clock.Now().WallMs)
	root.Send(a.partitionPID, &producePartition{records: batch, ownRecords: true, inline: true, acks: -1, timeoutMs: offsetsCommitTimeoutMs,
		reply: func(res producePartitionResult) { root.Send(self, &groupAppended{ids: ids, code: res.errorCode}) }})
}

// flushTransactional writes one transactional append of the core (a
// TxnOffsetCommit's offsets) as its own batch of the producer.
func (a *groupCoordinator) flushTransactional(ap groups.Append) {
	a.queued = a.queued[1:]
	a.appending = []internaltopic.AppendID{ap.ID}
	self, root, ids := a.self, a.g.n.system.Root, a.appending
	batch := groups.EncodeTxnBatch(ap.Records, a.g.n.cfg.Clock.Now().WallMs, *ap.Producer)
	root.Send(a.partitionPID, &producePartition{records: batch, ownRecords: true, inline: true, acks: -1, timeoutMs: offsetsCommitTimeoutMs,
		transactionalID: ap.Producer.TransactionalID, txnOperation: cluster.TxnOperationForTxnOffsetCommit(ap.Producer.TxnOffsetCommitVersion),
		reply: func(res producePartitionResult) { root.Send(self, &groupAppended{ids: ids, code: res.errorCode}) }})
}

// appended hands the partition's answer to a batch to the core. A batch
// of several appends refused for its size goes again one append at a
// time, so that only an append too large by itself fails (the core fails
// an offset commit the partition refused alone, and keeps its groups); a
// splittable append (tombstones) refused alone goes again in two halves.
func (a *groupCoordinator) appended(msg *groupAppended) {
	merged := a.merged
	a.appending, a.merged = nil, nil
	tooLarge := msg.code == kerr.MessageTooLarge.Code || msg.code == kerr.RecordListTooLarge.Code
	switch {
	case len(merged) > 1 && tooLarge:
		a.logger.Info("group coordinator splits a batch the partition refused for its size", zap.Int("appends", len(merged)))
		a.queued = append(merged, a.queued...)
		a.alone = len(merged)
		return
	case len(merged) == 1 && tooLarge && merged[0].Splittable && len(merged[0].Records) > 1:
		a.splitAppend(merged[0])
		return
	}
	for _, id := range msg.ids {
		if n, split := a.parts[id]; split {
			if msg.code == 0 && n > 1 {
				a.parts[id]--
				continue // more parts to write
			}
			delete(a.parts, id)
			a.queued = slices.DeleteFunc(a.queued, func(q groups.Append) bool { return q.ID == id })
		}
		a.core.Appended(id, msg.code, a.now())
	}
}

// splitAppend queues a splittable append the partition refused for its
// size again as two halves, each in a batch of its own; the core hears of
// it once both are written (parts).
func (a *groupCoordinator) splitAppend(ap groups.Append) {
	if a.parts == nil {
		a.parts = map[internaltopic.AppendID]int{}
	}
	a.parts[ap.ID] = max(a.parts[ap.ID], 1) + 1
	half := len(ap.Records) / 2
	first, second := ap, ap
	first.Records, second.Records = ap.Records[:half], ap.Records[half:]
	a.logger.Info("group coordinator splits tombstones the partition refused for their size", zap.Int("records", len(ap.Records)))
	a.queued = append([]groups.Append{first, second}, a.queued...)
	a.alone = 2
}

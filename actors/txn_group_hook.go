package actors

import (
	"gregor/groups"
)

// groupTxnMarker tells a group coordinator that a transaction marker was
// written to its partition.
type groupTxnMarker struct {
	producerID int64
	commit     bool
}

// transactionMarker is called by the WriteTxnMarkers handler once a
// marker of producerID's transaction is written to __consumer_offsets
// partition: the offsets the producer committed in the transaction
// (TxnOffsetCommit) become visible on commit and are dropped on abort. A
// partition this node does not coordinate is left alone: its coordinator
// replays the marker when it loads.
func (g *groupNode) transactionMarker(partition int32, producerID int64, producerEpoch int16, commit bool) {
	_ = producerEpoch // the marker's epoch was checked by the partition
	if pid := g.coordinator(partition); pid != nil {
		g.n.system.Root.Send(pid, &groupTxnMarker{producerID: producerID, commit: commit})
	}
}

// flushTransactional writes one transactional append of the core (a
// TxnOffsetCommit's offsets) as its own batch of the producer.
func (a *groupCoordinator) flushTransactional(ap groups.Append) {
	a.queued = a.queued[1:]
	a.appending = []groups.AppendID{ap.ID}
	self, root, ids := a.self, a.g.n.system.Root, a.appending
	batch := groups.EncodeTxnBatch(ap.Records, a.g.n.cfg.Clock.Now().WallMs, *ap.Producer)
	root.Send(a.partitionPID, &producePartition{records: batch, acks: -1, timeoutMs: offsetsCommitTimeoutMs,
		reply: func(res producePartitionResult) { root.Send(self, &groupAppended{ids: ids, code: res.errorCode}) }})
}

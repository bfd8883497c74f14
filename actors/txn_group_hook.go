package actors

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

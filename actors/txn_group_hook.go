package actors

// transactionMarker tells the group coordinator of a __consumer_offsets
// partition that a transaction marker was written there, so the offsets the
// producer committed in the transaction become visible (commit) or are
// dropped (abort). The transactional offset commits themselves
// (TxnOffsetCommit) are not served yet, so there is nothing to do: Part T
// replaces this file with the real hook.
func (g *groupNode) transactionMarker(partition int32, producerID int64, producerEpoch int16, commit bool) {
	_, _, _, _ = partition, producerID, producerEpoch, commit
}

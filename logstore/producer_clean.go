package logstore

// filterBatch is filterBatch for the cleaner, which also compacts
// transactions, as Kafka's cleaner does (every transaction in a job's
// sources is decided: PlanClean stops at the first unstable offset):
//   - the records of an aborted transaction go (the whole batch: a
//     transactional batch belongs to one transaction), leaving an empty
//     batch when retainEmpty (the producer's last batch, whose sequence
//     numbers must survive);
//   - the records of a committed transaction are compacted by key like
//     any other (buildOffsetMap maps them too);
//   - a marker goes once nothing of its transaction is left in the log and
//     it is older than delete.retention.ms, unless it is its producer's
//     last batch (the aborted-transaction index keeps an abort for
//     readers).
//
// Batches come in offset order, so a transaction's batches come before its
// marker: txnKept says whether a batch of the producer's transaction in
// progress was kept.
func (j *CleanJob) filterBatch(b *Batch, keep KeepFunc, retainEmpty bool) (FilterResult, error) {
	if b.Attributes&compactAttrControl != 0 {
		return j.filterMarker(b, retainEmpty), nil
	}
	var res FilterResult
	if j.inAbortedTxn(b) {
		res.Dropped = int(b.NumRecords)
		if retainEmpty {
			res.Batch = emptyBatch(b)
		}
	} else {
		var err error
		if res, err = filterBatch(j.log.codecs, b.Raw, keep, retainEmpty, true); err != nil {
			return res, err
		}
	}
	if b.Attributes&compactAttrTransactional != 0 && b.ProducerID >= 0 && res.Batch != nil {
		if j.txnKept == nil {
			j.txnKept = map[int64]bool{}
		}
		j.txnKept[b.ProducerID] = true
	}
	return res, nil
}

// filterMarker keeps a transaction marker unless its transaction left
// nothing behind, its delete.retention.ms passed, and it is not the
// producer's last batch (Kafka's cleaner drops commit and abort markers
// alike on those terms).
func (j *CleanJob) filterMarker(b *Batch, retainEmpty bool) FilterResult {
	kept := j.txnKept[b.ProducerID]
	delete(j.txnKept, b.ProducerID)
	if kept || retainEmpty || b.MaxTimestamp > j.nowMs-j.deleteRetentionMs {
		return FilterResult{Batch: b.Raw, Kept: int(b.NumRecords)}
	}
	return FilterResult{Dropped: int(b.NumRecords)}
}

// inAbortedTxn says whether b is a transactional data batch of an aborted
// transaction.
func (j *CleanJob) inAbortedTxn(b *Batch) bool {
	if b.Attributes&(compactAttrControl|compactAttrTransactional) != compactAttrTransactional || b.ProducerID < 0 {
		return false
	}
	for _, a := range j.aborted {
		if a.ProducerID == b.ProducerID && a.FirstOffset <= b.FirstOffset && b.LastOffset() < a.LastOffset {
			return true
		}
	}
	return false
}

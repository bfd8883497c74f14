package logstore

// filterBatch is filterBatch for the cleaner, which also compacts
// transactions:
//   - the records of an aborted transaction go (the whole batch: a
//     transactional batch belongs to one transaction), leaving an empty
//     batch when retainEmpty (the producer's last batch, whose sequence
//     numbers must survive);
//   - an abort marker goes once nothing of its transaction is left in the
//     log and it is older than delete.retention.ms (the aborted-transaction
//     index keeps the abort for readers); a commit marker stays, as do
//     committed transactional records (they are not compacted by key).
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
		if res, err = filterBatch(j.log.codecs, b.Raw, keep, retainEmpty); err != nil {
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

// filterMarker keeps a transaction marker unless it is an abort marker
// whose transaction left nothing behind and whose delete.retention.ms
// passed, and that is not the producer's last batch.
func (j *CleanJob) filterMarker(b *Batch, retainEmpty bool) FilterResult {
	kept := j.txnKept[b.ProducerID]
	delete(j.txnKept, b.ProducerID)
	info := ReadProducerBatchInfo(b.Raw)
	if info.Commit || kept || retainEmpty || b.MaxTimestamp > j.nowMs-j.deleteRetentionMs {
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

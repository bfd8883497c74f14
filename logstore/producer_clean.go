package logstore

// filterBatch is filterBatch for the cleaner: the records of an aborted
// transaction go (the whole batch: a transactional batch belongs to one
// transaction), leaving an empty batch when retainEmpty (the producer's last
// batch, whose sequence numbers must survive). Transaction markers stay: a
// read_committed reader past them needs nothing of them, but a replica that
// rebuilds its producer state from the log does, to see the transaction
// closed.
func (j *CleanJob) filterBatch(b *Batch, keep KeepFunc, retainEmpty bool) (FilterResult, error) {
	if !j.inAbortedTxn(b) {
		return filterBatch(j.log.codecs, b.Raw, keep, retainEmpty)
	}
	res := FilterResult{Dropped: int(b.NumRecords)}
	if retainEmpty {
		res.Batch = emptyBatch(b)
	}
	return res, nil
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

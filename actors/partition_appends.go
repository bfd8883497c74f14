package actors

import (
	"gregor/cluster"
	"gregor/logstore"
)

// appendAll carries out the appends of one Ready. Several (the produces
// that waited in one batch while the partition was busy,
// partition_produce_queue.go, or a batch of transaction markers,
// txn_marker_queue.go) go to the log in one append (one write for them
// all), and each is reported with its own outcome, in order, as if
// appended one after the other. On a leader with followers each produce's
// frame goes to the log with its batch, as for a lone append
// (partition_storage.go). Should that append fail, each is appended on its
// own, so that an append the log refuses (too large for a segment, say)
// fails alone, as it did before they were written together; the log is
// unchanged by a failed append, and the core withdraws an append whose
// producer's earlier batch failed meanwhile (cluster.Replica.AppendWithdrawn).
func (a *partitionActor) appendAll(aps []cluster.AppendBatches) {
	if len(aps) < 2 || !appendableTogether(aps) {
		a.appendEach(aps)
		return
	}
	count, nowMs := 0, aps[0].NowMs
	for _, ap := range aps {
		count += len(ap.Batches)
		nowMs = max(nowMs, ap.NowMs)
	}
	batches := make([][]byte, 0, count)
	var releases []func()
	var holders []*producePartition
	for i, ap := range aps {
		if msg := a.holdableProduce(ap); msg != nil {
			if releases == nil {
				releases, holders = make([]func(), count), make([]*producePartition, 0, len(aps)-i)
			}
			releases[len(batches)] = msg.heldRelease()
			holders = append(holders, msg)
		}
		batches = append(batches, ap.Batches...)
	}
	var res logstore.AppendResult
	var err error
	if releases != nil {
		res, err = a.log.AppendValidatedHeldEach(batches, releases, aps[0].LeaderEpoch, nowMs)
	} else {
		res, err = a.log.AppendValidated(batches, aps[0].LeaderEpoch, nowMs)
	}
	if err != nil {
		a.appendEach(aps)
		return
	}
	for _, msg := range holders {
		msg.release = nil // the log took it
	}
	flushed := a.log.FlushedOffset()
	ids, outs := make([]cluster.RequestID, len(aps)), make([]cluster.AppendOutcome, len(aps))
	first := 0
	for i, ap := range aps {
		end := res.LogEndOffset
		if next := first + len(ap.Batches); i+1 < len(aps) {
			end = res.BaseOffsets[next]
		}
		ids[i] = ap.ID
		outs[i] = cluster.AppendOutcome{BaseOffset: res.BaseOffsets[first], LogEndOffset: end, FlushedOffset: min(flushed, end)}
		first += len(ap.Batches)
	}
	a.core.AppendsCompleted(ids, outs)
	a.endOffsetGauge.Set(float64(res.LogEndOffset))
}

// appendEach appends one at a time, in order, those of aps the core does
// not withdraw.
func (a *partitionActor) appendEach(aps []cluster.AppendBatches) {
	for _, ap := range aps {
		if !a.core.AppendWithdrawn(ap.ID) {
			a.append(ap)
		}
	}
}

// appendableTogether says whether the appends can go as one: each has a
// batch, and all are at the first's leader epoch.
func appendableTogether(aps []cluster.AppendBatches) bool {
	for _, ap := range aps {
		if len(ap.Batches) == 0 || ap.LeaderEpoch != aps[0].LeaderEpoch {
			return false
		}
	}
	return true
}

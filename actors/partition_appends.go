package actors

import (
	"gregor/cluster"
)

// appendAll carries out the appends of one Ready. Several (a batch of
// transaction markers, txn_marker_queue.go) go to the log in one append
// (one write for them all), and each is reported with its own outcome, in
// order, as if appended one after the other. Should that append fail, each
// is appended on its own, so that an append the log refuses (too large for
// a segment, say) fails alone, as it did before they were written
// together; the log is unchanged by a failed append.
func (a *partitionActor) appendAll(aps []cluster.AppendBatches) {
	if len(aps) < 2 || !appendableTogether(aps) {
		for _, ap := range aps {
			a.append(ap)
		}
		return
	}
	count, nowMs := 0, aps[0].NowMs
	for _, ap := range aps {
		count += len(ap.Batches)
		nowMs = max(nowMs, ap.NowMs)
	}
	batches := make([][]byte, 0, count)
	for _, ap := range aps {
		batches = append(batches, ap.Batches...)
	}
	res, err := a.log.AppendValidated(batches, aps[0].LeaderEpoch, nowMs)
	if err != nil {
		for _, ap := range aps {
			a.append(ap)
		}
		return
	}
	flushed := a.log.FlushedOffset()
	first := 0
	for i, ap := range aps {
		end := res.LogEndOffset
		if next := first + len(ap.Batches); i+1 < len(aps) {
			end = res.BaseOffsets[next]
		}
		a.core.AppendCompleted(ap.ID, cluster.AppendOutcome{BaseOffset: res.BaseOffsets[first], LogEndOffset: end,
			FlushedOffset: min(flushed, end)}, nil)
		first += len(ap.Batches)
	}
	a.endOffsetGauge.Set(float64(res.LogEndOffset))
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

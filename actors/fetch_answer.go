package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// A Fetch's answer: what each partition read, in the response the core
// decided on, with leader hints.

func partitionRead(res fetchPartitionResult) cluster.PartitionRead {
	pr := cluster.PartitionRead{ErrorCode: res.errorCode, HighWatermark: res.highWatermark, LastStableOffset: res.lastStableOffset, LogStartOffset: res.logStartOffset, ReadUpTo: res.readUpTo,
		Diverging: res.diverging}
	if res.records != nil {
		pr.RecordsBytes = res.records.Len()
	}
	return pr
}

func releaseResults(results []fetchPartitionResult) {
	for _, res := range results {
		if res.records != nil {
			res.records.Release()
		}
	}
}

// answer fills the response as the core decided and sends it: the included
// records go to the socket without a copy; the others are released.
func (st *fetchShell) answer(ans *cluster.FetchAnswer, results []fetchPartitionResult) {
	// In response order (targets follow the request's).
	included := make([]partitionRecords, 0, len(st.targets))
	var leaders hintedLeaders
	rps, code := st.responsePartitions(ans, results)
	if code != 0 {
		releaseResults(results)
		st.resp.ErrorCode = code
		st.respond(st.resp)
		return
	}
	for i, t := range st.targets {
		rp := rps[i]
		if rp == nil { // left out of a session's answer: nothing new
			if results != nil && results[i].records != nil {
				results[i].records.Release()
			}
			continue
		}
		pa := ans.Partitions[i]
		rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = pa.ErrorCode, pa.HighWatermark, pa.LastStableOffset, pa.LogStartOffset
		if d := pa.Diverging; d != nil {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
		}
		hint := t.imageHint
		if results != nil && results[i].currentLeader != nil {
			hint = results[i].currentLeader
		}
		hintFetchPartition(rp, st.body.Version, hint, &leaders)
		if t.pid != nil && st.body.IsolationLevel == 1 {
			rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		if results == nil || results[i].records == nil {
			continue
		}
		if res := results[i]; pa.IncludeRecords {
			setAbortedTransactions(rp, res.abortedTxns)
			included = append(included, partitionRecords{partition: rp, records: res.records})
			res.bytesOut.Add(float64(res.records.Len()))
		} else {
			res.records.Release()
		}
	}
	st.r.node.fetchResponseBrokers(st.resp, leaders)
	if len(included) == 0 {
		st.respond(st.resp)
		return
	}
	if enc, ok := encodeFetchResponse(st.resp, included, st.r.salts, st.req.ResponseBuffer); ok {
		st.respond(enc)
		return
	}
	// Copying fallback.
	for _, pr := range included {
		if b, err := pr.records.Bytes(); err != nil {
			pr.partition.RecordBatches = []byte{}
			pr.partition.ErrorCode = kerr.KafkaStorageError.Code
		} else {
			pr.partition.RecordBatches = b
		}
		pr.records.Release()
	}
	st.respond(st.resp)
}

// readBuffers returns the buffers of the Fetch's next read, cleared: those
// of its last read, reused (a parked follower's Fetch reads every
// partition of its session twice, when it comes and when it wakes), or new
// ones for its first. The core hands out a read only once the last one
// completed, and stepOn releases a read's records under mu, before a later
// read can begin; late answers never reach a buffer (fanOut.late).
func (st *fetchShell) readBuffers() []fetchPartitionResult {
	if st.readResults == nil {
		st.readResults = make([]fetchPartitionResult, len(st.targets))
		st.readReads = make([]cluster.PartitionRead, len(st.targets))
		return st.readResults
	}
	clear(st.readResults)
	return st.readResults
}

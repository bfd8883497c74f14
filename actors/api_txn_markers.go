package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore"
)

// txnMarkerWait bounds how long the router waits for a partition's marker
// answer (the core's own timeout for the high watermark is 30 s).
const txnMarkerWait = 35 * time.Second

// writeTxnMarkers serves WriteTxnMarkers (API 27), sent by transaction
// coordinators to partition leaders: each partition's leader writes a
// control batch through its replica core (which ends the producer's
// transaction, moves the last stable offset and, for an abort, records it in
// the aborted-transaction index) and answers once the high watermark passed
// it. A marker written to a __consumer_offsets partition is also handed to
// the node's group coordinators (the transaction's offsets become visible or
// are dropped). From v2 each marker carries its transaction version
// (KIP-1228), with which the replica core refuses a late marker; before,
// every marker is version 0.
func (r *router) writeTxnMarkers(body *kmsg.WriteTxnMarkersRequest, respond func(kmsg.Response)) {
	rt := r.node.routes.load()
	resp := body.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	fo := &fanOut[producePartitionResult]{}
	for mi, m := range body.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		marker := &cluster.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Committed}
		if body.Version >= 2 {
			marker.TransactionVersion = m.TransactionVersion
		}
		for ti, t := range m.Topics {
			rtopic := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rtopic.Topic = t.Topic
			topic, ok := rt.lookupTopic(t.Topic, cluster.TopicID{}, false)
			for pi, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				pid, code := rt.route(topic, ok, false, p)
				rp.ErrorCode = code
				if code == 0 {
					// Overwritten by the answer; stays if none comes in time.
					rp.ErrorCode = kerr.RequestTimedOut.Code
					topicName, partition := t.Topic, p
					fo.ask(pid, func(res producePartitionResult) {
						resp.Markers[mi].Topics[ti].Partitions[pi].ErrorCode = res.errorCode
						if res.errorCode == 0 && topicName == groups.OffsetsTopic {
							r.node.groups.transactionMarker(partition, marker.ProducerID, marker.ProducerEpoch, marker.Commit)
						}
					}, func(reply func(producePartitionResult)) any {
						return &producePartition{acks: -1, timeoutMs: int32(txnMarkerWait / time.Millisecond), marker: marker, reply: reply}
					})
				}
				rtopic.Partitions = append(rtopic.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rtopic)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	// Through the node's produce queues (txn_marker_queue.go): the
	// partition writes the markers and produces that reach it together in
	// one append.
	r.node.runProduces(fo, txnMarkerWait, nil, func() { respond(resp) })
}

// addAbortedTxns lists, for a read_committed fetch, the aborted
// transactions among the records read.
func (a *partitionActor) addAbortedTxns(res *fetchPartitionResult, isolationLevel int8) {
	if isolationLevel != 1 || res.records == nil || res.records.Len() == 0 {
		return
	}
	res.abortedTxns = a.log.AbortedTransactions(res.records.FirstOffset, res.records.NextOffset)
}

// setAbortedTransactions puts a read_committed fetch's aborted transactions
// into its partition's answer.
func setAbortedTransactions(rp *kmsg.FetchResponseTopicPartition, aborted []logstore.AbortedTxn) {
	for _, a := range aborted {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		rp.AbortedTransactions = append(rp.AbortedTransactions, at)
	}
}

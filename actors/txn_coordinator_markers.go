package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/cluster"
	"gregor/groups"
	"gregor/txn"
)

// localMarkerWait bounds how long a coordinator waits for a partition
// actor's answer to a marker (the partition's own timeout for the high
// watermark is 30 s).
const localMarkerWait = 35 * time.Second

// writeMarkers writes the core's markers: those of partitions this node
// leads go straight to their partition actors (no WriteTxnMarkers request
// built, routed and answered on the node itself), through the node's
// marker queues (txn_marker_queue.go), the others as
// WriteTxnMarkers to their leaders (txnNode.writeMarkers), which is also
// how markers to __consumer_offsets go, whose group coordinators must
// learn them. Each marker's outcome comes back as txnMarkersWritten.
func (a *txnCoordinator) writeMarkers(markers []txn.Marker) {
	rt := a.x.n.routes.load()
	var local, rest []txn.Marker
	for _, m := range markers {
		t, ok := rt.image.Topic(m.Topic)
		if ok && m.Topic != groups.OffsetsTopic && m.Partition >= 0 && m.Partition < t.PartitionCount() &&
			t.Partitions[m.Partition].Leader == a.x.n.cfg.NodeID && rt.partition(m.Topic, m.Partition) != nil {
			local = append(local, m)
		} else {
			rest = append(rest, m)
		}
	}
	if len(rest) > 0 {
		a.x.writeMarkers(rest, a.self)
	}
	if len(local) == 0 {
		return
	}
	self, root := a.self, a.x.n.system.Root
	results := make([]markerResult, len(local))
	// A partition actor that stops with the marker in its mailbox never
	// answers: at the deadline the missing ones are timed out, which the
	// core sends again.
	fo := &fanOut[producePartitionResult]{}
	var marker *cluster.TxnMarker
	for i, m := range local {
		results[i] = markerResult{marker: m, code: kerr.RequestTimedOut.Code}
		if marker == nil || marker.ProducerID != m.ProducerID || marker.ProducerEpoch != m.ProducerEpoch ||
			marker.CoordinatorEpoch != m.CoordinatorEpoch || marker.Commit != m.Commit || marker.TransactionVersion != m.TransactionVersion {
			marker = &cluster.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Commit,
				TransactionVersion: m.TransactionVersion}
		}
		fo.ask(rt.partition(m.Topic, m.Partition), func(res producePartitionResult) { results[i].code = res.errorCode },
			func(reply func(producePartitionResult)) any {
				return &producePartition{acks: -1, timeoutMs: int32(localMarkerWait / time.Millisecond), marker: marker, reply: reply}
			})
	}
	a.x.n.askMarkers(fo, localMarkerWait, func() { root.Send(self, &txnMarkersWritten{results: results}) })
}

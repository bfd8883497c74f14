package actors

import (
	"sync"
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
// built, routed and answered on the node itself), the others as
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
	g := &markerGather{results: make([]markerResult, len(local)), left: len(local)}
	g.timer = time.AfterFunc(localMarkerWait, func() { g.expire(func(rs []markerResult) { root.Send(self, &txnMarkersWritten{results: rs}) }) })
	var marker *cluster.TxnMarker
	for i, m := range local {
		g.results[i] = markerResult{marker: m, code: kerr.RequestTimedOut.Code}
		if marker == nil || marker.ProducerID != m.ProducerID || marker.ProducerEpoch != m.ProducerEpoch ||
			marker.CoordinatorEpoch != m.CoordinatorEpoch || marker.Commit != m.Commit || marker.TransactionVersion != m.TransactionVersion {
			marker = &cluster.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Commit,
				TransactionVersion: m.TransactionVersion}
		}
		root.Send(rt.partition(m.Topic, m.Partition), &producePartition{acks: -1, timeoutMs: int32(localMarkerWait / time.Millisecond), marker: marker,
			reply: func(res producePartitionResult) {
				g.answer(i, res.errorCode, func(rs []markerResult) { root.Send(self, &txnMarkersWritten{results: rs}) })
			}})
	}
}

// markerGather collects the answers of the markers sent to partition
// actors and reports them together once all came, or at its deadline
// (a partition actor that stopped with the marker in its mailbox never
// answers) with those missing timed out, which the core sends again.
type markerGather struct {
	mu      sync.Mutex
	results []markerResult
	left    int
	timer   *time.Timer
}

func (g *markerGather) answer(i int, code int16, report func([]markerResult)) {
	g.mu.Lock()
	if g.left == 0 {
		g.mu.Unlock()
		return
	}
	g.results[i].code = code
	g.left--
	done := g.left == 0
	g.mu.Unlock()
	if done {
		g.timer.Stop()
		report(g.results)
	}
}

func (g *markerGather) expire(report func([]markerResult)) {
	g.mu.Lock()
	if g.left == 0 {
		g.mu.Unlock()
		return
	}
	g.left = 0
	g.mu.Unlock()
	report(g.results)
}

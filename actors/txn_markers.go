package actors

import (
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
	"gregor/txn"
)

// markerResult is the outcome of one marker a coordinator asked for.
type markerResult struct {
	marker txn.Marker
	code   int16
}

// writeMarkers sends markers to their partitions' leaders, one
// WriteTxnMarkers request per leader (to other brokers through the node's
// markerSenders, which join them to other coordinators' markers waiting
// for the same leader), and reports every marker's outcome
// to the coordinator as txnMarkersWritten. A partition whose topic is gone
// is reported written (nothing is left to mark); one with no live leader
// gets NOT_LEADER_OR_FOLLOWER, which the core retries after a backoff.
func (x *txnNode) writeMarkers(markers []txn.Marker, coordinator *actor.PID) {
	root := x.n.system.Root
	report := func(results []markerResult) { root.Send(coordinator, &txnMarkersWritten{results: results}) }
	img := x.n.routes.load().image
	byLeader := map[int32][]txn.Marker{}
	var now []markerResult
	for _, m := range markers {
		t, ok := img.Topic(m.Topic)
		switch {
		case !ok || m.Partition >= t.PartitionCount():
			now = append(now, markerResult{marker: m})
		case t.Partitions[m.Partition].Leader < 0:
			now = append(now, markerResult{marker: m, code: kerr.NotLeaderForPartition.Code})
		default:
			leader := t.Partitions[m.Partition].Leader
			byLeader[leader] = append(byLeader[leader], m)
		}
	}
	if len(now) > 0 {
		report(now)
	}
	for leader, ms := range byLeader {
		if leader == x.n.cfg.NodeID {
			x.sendMarkers(leader, ms, report) // straight to this node's handler
			continue
		}
		x.markerSenders.queue(leader, ms, report)
	}
}

// sendMarkers sends one leader its markers and reports their outcomes.
func (x *txnNode) sendMarkers(leader int32, ms []txn.Marker, report func([]markerResult)) {
	failAll := func(code int16) {
		results := make([]markerResult, len(ms))
		for i, m := range ms {
			results[i] = markerResult{marker: m, code: code}
		}
		report(results)
	}
	req := markersRequest(ms)
	if leader == x.n.cfg.NodeID && x.n.router != nil {
		// This node leads the partitions: straight to its handler, with
		// no connection to itself, at the version it serves.
		req.Version = 2
		x.n.router.writeTxnMarkers(req, func(resp kmsg.Response) {
			if r, ok := resp.(*kmsg.WriteTxnMarkersResponse); ok {
				results := markerResults(ms, r)
				x.metrics.markersSent(nil, results)
				report(results)
				return
			}
			x.metrics.markersSent(errMarkersUnanswered, nil)
			failAll(kerr.UnknownServerError.Code)
		})
		return
	}
	c := x.markerClient(leader)
	if c == nil {
		x.metrics.markersSent(errMarkersUnanswered, nil)
		failAll(kerr.NotLeaderForPartition.Code)
		return
	}
	err := c.Send(req, markerTimeoutMs*time.Millisecond, func(resp *netio.Response, err error) {
		if err != nil {
			x.metrics.markersSent(err, nil)
			failAll(kerr.RequestTimedOut.Code)
			return
		}
		defer resp.Release()
		results := markerResults(ms, resp.Body.(*kmsg.WriteTxnMarkersResponse))
		x.metrics.markersSent(nil, results)
		report(results)
	})
	if err != nil {
		x.logger.Debug("markers not sent", zap.Int32("leader", leader), zap.Error(err))
		x.metrics.markersSent(err, nil)
		failAll(kerr.RequestTimedOut.Code)
	}
}

// errMarkersUnanswered: markers for a leader with no connection, or an
// answer of the wrong kind (counted as failed, txnMetrics.markersSent).
var errMarkersUnanswered = errors.New("markers not sent")

// markersRequest groups markers by transaction: one entry per producer id,
// outcome and transaction version, its partitions by topic. The client
// sends it at the highest version the leader serves: a leader that serves
// only v1 gets no transaction version and checks the markers as version 0.
func markersRequest(ms []txn.Marker) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	index := map[txn.Marker]int{} // the marker with no partition → entry
	for _, m := range ms {
		key := m
		key.Topic, key.Partition = "", 0
		i, ok := index[key]
		if !ok {
			e := kmsg.NewWriteTxnMarkersRequestMarker()
			e.ProducerID, e.ProducerEpoch, e.Committed, e.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
			e.TransactionVersion = m.TransactionVersion
			req.Markers = append(req.Markers, e)
			i = len(req.Markers) - 1
			index[key] = i
		}
		e := &req.Markers[i]
		if n := len(e.Topics); n == 0 || e.Topics[n-1].Topic != m.Topic {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = m.Topic
			e.Topics = append(e.Topics, t)
		}
		t := &e.Topics[len(e.Topics)-1]
		t.Partitions = append(t.Partitions, m.Partition)
	}
	return req
}

// markerResults reads each marker's code from the answer; a marker the
// answer does not mention failed (the leader retries it).
func markerResults(ms []txn.Marker, resp *kmsg.WriteTxnMarkersResponse) []markerResult {
	type key struct {
		pid       int64
		topic     string
		partition int32
	}
	codes := map[key]int16{}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				codes[key{m.ProducerID, t.Topic, p.Partition}] = p.ErrorCode
			}
		}
	}
	out := make([]markerResult, len(ms))
	for i, m := range ms {
		code, ok := codes[key{m.ProducerID, m.Topic, m.Partition}]
		if !ok {
			code = kerr.UnknownServerError.Code
		}
		out[i] = markerResult{marker: m, code: code}
	}
	return out
}

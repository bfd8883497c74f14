package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The simulated network: every message between endpoints (brokers, and the
// clients of the workload) is delayed, and may be lost, duplicated or
// reordered, per directed link; partitions cut links. On top of it a small
// RPC layer (correlation ids and timeouts, as the netio client) carries
// requests and responses: a response arriving after its request timed out,
// or a second copy of one, is dropped, so a caller hears exactly once. A
// request to a node whose process is down is refused at once; one its
// process took and had not answered when it stopped fails at once too, a
// connection closed (node.closeConnections), but for a power loss, after
// which its caller waits out its timeout.

// msgKind says what a message is.
type msgKind uint8

const (
	msgRaft     msgKind = iota // a serialized raft message, fire and forget
	msgRequest                 // an RPC request
	msgResponse                // an RPC response
)

// message is one message in flight.
type message struct {
	from, to int32
	kind     msgKind
	corr     uint64
	body     any
	// err is a transport failure carried back to the caller (the
	// destination's process is down: connection refused).
	err error
}

// Errors a caller sees instead of a response.
var (
	errTimeout     = errors.New("request timed out")
	errUnreachable = errors.New("connection refused")
)

// endpoint is something on the network: a broker node or a client.
type endpoint interface {
	// receive takes a message that arrived (in an event of its own).
	receive(m *message)
	// at runs fn at atMs in the endpoint's context (a node drops it when it
	// crashed meanwhile, and holds it while paused).
	at(atMs int64, fn func())
	// after runs fn there once delayMs passed by the endpoint's clock (a
	// node's may drift).
	after(delayMs int64, fn func())
	rpcTable() *rpcs
}

type linkKey struct{ from, to int32 }

// linkFaults degrade one directed link beyond the run's baseline.
type linkFaults struct {
	dropP, dupP  float64
	extraDelayMs float64 // mean of an added exponential delay (reordering)
}

type network struct {
	w   *World
	rng *rand.Rand
	// Baseline: every message takes minDelayMs plus an exponential of mean
	// meanDelayMs; dropP and dupP of messages are lost or duplicated.
	minDelayMs  int64
	meanDelayMs float64
	dropP, dupP float64
	// cut links lose every message; dataCut links only a follower's
	// replication traffic to a leader (see replicationCut), while the
	// CONTROLLER listener still works; degraded links lose more than the
	// baseline.
	cut      map[linkKey]bool
	dataCut  map[linkKey]bool
	degraded map[linkKey]*linkFaults
	// fifo is when the last transaction request sent on each link arrives:
	// they arrive in order (txnEnvelope). held links keep what arrives
	// until a scenario releases it (scenario_txn.go).
	fifo map[linkKey]int64
	held map[linkKey][]*message
	// fifoProduce is when the last ordered produce request (a pipelining
	// producer's, producerProduce.ordered) sent on each link arrives.
	fifoProduce map[linkKey]int64
	// clog holds what the swizzle-clog fault's clogged nodes send and
	// receive (faults_clog.go).
	clog clogs
	// metaLag are the nodes the metadata log reaches late, metaLagFifo
	// when the last raft message delayed to each arrives
	// (metadata_lag.go).
	metaLag     map[int32]metadataLag
	metaLagFifo map[int32]int64
}

func newNetwork(w *World, rng *rand.Rand) *network {
	return &network{w: w, rng: rng, minDelayMs: 1, meanDelayMs: 2, cut: map[linkKey]bool{}, dataCut: map[linkKey]bool{}, degraded: map[linkKey]*linkFaults{},
		fifo: map[linkKey]int64{}, fifoProduce: map[linkKey]int64{}, clog: clogs{nodes: map[int32]uint8{}},
		metaLag: map[int32]metadataLag{}, metaLagFifo: map[int32]int64{}}
}

// send puts a message on the wire.
func (n *network) send(m *message) {
	w := n.w
	w.stats.Messages++
	k := linkKey{m.from, m.to}
	dup := false
	extra := 0.0
	if m.from != m.to {
		if n.cut[k] || n.replicationCut(m) {
			w.stats.MessagesCut++
			return
		}
		dropP, dupP := n.dropP, n.dupP
		if lf := n.degraded[k]; lf != nil {
			dropP, dupP, extra = max(dropP, lf.dropP), max(dupP, lf.dupP), lf.extraDelayMs
		}
		if chance(n.rng, dropP) {
			w.stats.MessagesDropped++
			return
		}
		dup = chance(n.rng, dupP)
	}
	n.schedule(m, extra)
	if dup {
		w.stats.MessagesDuplicated++
		n.schedule(cloneMessage(m), extra)
	}
}

func (n *network) schedule(m *message, extraMeanMs float64) {
	delay := int64(0)
	if m.from != m.to {
		delay = n.minDelayMs + expMs(n.rng, n.meanDelayMs) + expMs(n.rng, extraMeanMs)
	}
	at := n.w.now + delay
	if m.kind == msgRaft || isLearnerFrame(m.body) {
		// The metadata log reaches a voter in raft messages, a learner
		// in its frames' answers (node_learner.go).
		at = n.metadataLagArrival(m.to, at)
	}
	if _, ok := m.body.(*txnEnvelope); ok && m.kind == msgRequest {
		k := linkKey{m.from, m.to}
		at = max(at, n.fifo[k])
		n.fifo[k] = at
	}
	if p, ok := m.body.(*producerProduce); ok && p.ordered && m.kind == msgRequest {
		k := linkKey{m.from, m.to}
		at = max(at, n.fifoProduce[k])
		n.fifoProduce[k] = at
	}
	n.w.schedule(at, func() { n.arrive(m) })
}

// arrive hands a message to its destination, unless its link was cut while
// it was in flight.
func (n *network) arrive(m *message) {
	if m.from != m.to && (n.cut[linkKey{m.from, m.to}] || n.replicationCut(m)) {
		n.w.stats.MessagesCut++
		return
	}
	if n.hold(m) {
		return
	}
	if q, ok := n.held[linkKey{m.from, m.to}]; ok {
		n.held[linkKey{m.from, m.to}] = append(q, m)
		return
	}
	n.w.traceMessage(m)
	n.w.endpoint(m.to).receive(m)
}

// traceMessage adds a delivered message to the event log.
func (w *World) traceMessage(m *message) {
	b := appendMs(w.traceBuf[:0], w.now)
	b = append(b, ' ')
	b = appendEndpoint(b, m.from)
	b = append(b, "→"...)
	b = appendEndpoint(b, m.to)
	switch m.kind {
	case msgRaft:
		b = append(b, " raft "...)
		b = strconv.AppendInt(b, int64(len(m.body.([]byte))), 10)
		b = append(b, 'B')
	case msgRequest:
		b = append(b, " request "...)
		b = strconv.AppendUint(b, m.corr, 10)
		b = append(b, ' ')
		b = append(b, bodyName(m.body)...)
	case msgResponse:
		b = append(b, " response "...)
		b = strconv.AppendUint(b, m.corr, 10)
		b = append(b, ' ')
		if m.err != nil {
			b = append(b, m.err.Error()...)
		} else {
			b = append(b, bodyName(m.body)...)
		}
	}
	b = append(b, '\n')
	w.traceBuf = b
	w.writeTrace(b)
}

func appendEndpoint(b []byte, id int32) []byte {
	if id >= clientBase {
		return strconv.AppendInt(append(b, 'c'), int64(id-clientBase+1), 10)
	}
	return strconv.AppendInt(append(b, 'n'), int64(id), 10)
}

// bodyName names a request or response for the event log.
func bodyName(body any) string {
	switch b := body.(type) {
	case *produceRequest, *producerProduce:
		return "Produce"
	case *txnEnvelope:
		return kmsg.NameForKey(b.body.Key())
	case *produceResponse:
		return "ProduceResponse"
	case *metadataRequest:
		return "Metadata"
	case *metadataResponse:
		return "MetadataResponse"
	case *fetchConnClosed:
		return "FetchConnectionClosed"
	case *controllerConnsClosed:
		return "ControllerConnectionsClosed"
	case kmsg.Request:
		return kmsg.NameForKey(b.Key())
	case kmsg.Response:
		return kmsg.NameForKey(b.Key()) + "Response"
	}
	return "?"
}

// replicationCut says a message is lost to a cut replication link: the
// link from a follower to a leader carries the follower's Fetch and
// OffsetForLeaderEpoch requests (and the close of a Fetch's connection),
// and their answers back.
func (n *network) replicationCut(m *message) bool {
	if len(n.dataCut) == 0 || m.from >= clientBase || m.to >= clientBase {
		return false
	}
	switch m.body.(type) {
	case *kmsg.FetchRequest, *kmsg.OffsetForLeaderEpochRequest, *fetchConnClosed:
		return n.dataCut[linkKey{m.from, m.to}]
	case *kmsg.FetchResponse, *kmsg.OffsetForLeaderEpochResponse:
		return n.dataCut[linkKey{m.to, m.from}]
	}
	return false
}

// bounce answers a request that reached a node whose process is down: the
// caller learns at once that the connection was refused.
func (n *network) bounce(m *message) {
	if m.kind != msgRequest {
		return
	}
	n.send(&message{from: m.to, to: m.from, kind: msgResponse, corr: m.corr, err: errUnreachable})
}

// cloneMessage copies what a receiver may change in place: the record
// batches of a produce request (the leader's log stamps offsets into them).
func cloneMessage(m *message) *message {
	c := *m
	switch p := m.body.(type) {
	case *produceRequest:
		cp := *p
		cp.records = slices.Clone(p.records)
		c.body = &cp
	case *producerProduce:
		cp := *p
		cp.records = slices.Clone(p.records)
		c.body = &cp
	}
	return &c
}

// rpcs are the calls an endpoint has in flight, by correlation id.
type rpcs struct {
	next  uint64
	calls map[uint64]func(any, error)
}

func newRPCs() *rpcs { return &rpcs{calls: map[uint64]func(any, error){}} }

// call sends a request from ep (id from) to node to; done runs once with the
// response body or an error (errTimeout after timeoutMs, errUnreachable).
func (w *World) call(ep endpoint, from, to int32, body any, timeoutMs int64, done func(any, error)) {
	t := ep.rpcTable()
	t.next++
	corr := t.next
	t.calls[corr] = done
	w.net.send(&message{from: from, to: to, kind: msgRequest, corr: corr, body: body})
	ep.after(timeoutMs, func() {
		if cb, ok := t.calls[corr]; ok {
			delete(t.calls, corr)
			w.stats.RPCTimeouts++
			cb(nil, errTimeout)
		}
	})
}

// respond answers a request message.
func (w *World) respond(req *message, body any) {
	w.answered(req)
	w.net.send(&message{from: req.to, to: req.from, kind: msgResponse, corr: req.corr, body: body})
}

// answered takes a request off its node's open requests.
func (w *World) answered(req *message) {
	if req.to < clientBase {
		delete(w.node(req.to).open, req)
	}
}

// completeCall hands a response to the call waiting for it, if any.
func (t *rpcs) completeCall(m *message) {
	cb, ok := t.calls[m.corr]
	if !ok {
		return // late, or a duplicate
	}
	delete(t.calls, m.corr)
	cb(m.body, m.err)
}

func (k linkKey) String() string {
	return fmt.Sprintf("%s→%s", endpointName(k.from), endpointName(k.to))
}

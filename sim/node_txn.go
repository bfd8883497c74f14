package sim

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore"
	"gregor/logstore/internaltopic"
	"gregor/txn"
)

// The transaction side of a node, as production's actors do it
// (txn_node.go, txn_coordinator.go, txn_markers.go, api_txn*.go,
// api_producer_id.go, producer_ids.go):
//
//   - the node that leads partition P of __transaction_state runs the
//     txn.Coordinator of P at its leader epoch (the coordinator epoch): it
//     loads the partition, serves InitProducerId with a transactional id,
//     AddPartitionsToTxn (the producer's form and the brokers'
//     verification), AddOffsetsToTxn and EndTxn, appends the core's records
//     to P with acks=all (up to txnAppendsInFlight batches in flight, the
//     rest queued, outcomes taken in the order sent), writes its
//     markers to the partitions' leaders (WriteTxnMarkers) and tells the
//     node's own leaders which partitions joined a transaction;
//   - every node hands out producer ids from a block the controller
//     allocates (AllocateProducerIDs), to idempotent producers
//     (InitProducerId without a transactional id) and to its coordinators;
//   - a partition leader writes the markers it is sent through its replica
//     core, and hands those of __consumer_offsets partitions to the group
//     coordinator of the partition (the transaction's offsets commit or
//     drop);
//   - a leader's transactional produce that the replica core holds for
//     verification (KIP-890 part 1) goes to the transaction's coordinator.
//
// The transaction requests travel in txnEnvelopes, which the network
// delivers in order and once per link, as the TCP connections of Kafka's
// clients and brokers do (see txnEnvelope).

// txnStatePartitions is transaction.state.log.num.partitions in the
// simulator (Kafka: 50).
const txnStatePartitions = 2

// Timeouts of the transaction shells: an append of the coordinator waits
// for acks=all this long (Kafka's request.timeout.ms for it), a
// WriteTxnMarkers request this long (the replica core answers a marker
// once the high watermark passed it, or after 30 s).
const (
	txnAppendTimeoutMs = 30_000
	txnMarkerRPCMs     = 35_000
)

// txnEnvelope carries a transaction request (InitProducerId,
// AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit,
// WriteTxnMarkers). The network delivers envelopes of a link in the order
// they were sent, and each at most once: what the sender's correlation id
// (per process incarnation inc) shows as older than one the link already
// delivered is dropped, across restarts of either end. This is the TCP connection of a real client or
// broker, which neither duplicates nor reorders: without it a duplicated
// EndTxn or marker could arrive after the next transaction of the same
// producer epoch began and decide it (KAFKA-17754, closed for the
// clients of KIP-890 part 2, which the workload does not use yet).
type txnEnvelope struct {
	inc  uint64
	body kmsg.Request
}

// producerProduce is one partition of a Produce of an idempotent or
// transactional producer: its batch carries a producer id, epoch and
// sequence, and a transactional one the request's transactional id.
type producerProduce struct {
	produceRequest
	transactionalID string
	// txnOperation is what the Produce's version lets the partition do
	// about a transaction it does not know (cluster.TxnOperationForProduce):
	// a KIP-890 part 2 producer's Produce v12 adds the partition.
	txnOperation cluster.TxnOperation
	// ordered says the request travels on its producer's produce
	// connection to the node, where requests arrive in the order sent (a
	// pipelining producer's, client_txn_pipeline.go): the network keeps
	// their order as it keeps the transaction requests'.
	ordered bool
}

// nodeTxn is a node process's transaction state; a restart starts anew.
type nodeTxn struct {
	inc    uint64
	coords []*txnHost
	// The node's block of producer ids: next to hand out, end past it;
	// asking says an AllocateProducerIDs is out; waiting wait for a block.
	pidNext, pidEnd int64
	pidAsking       bool
	pidWaiting      []func(pid int64, code int16)
}

type envelopeSeq struct{ inc, corr uint64 }

// txns is the transaction state of the node's running process.
func (n *node) txns() *nodeTxn {
	t := n.w.txn.nodes[n.id-1]
	if t == nil || t.inc != n.inc {
		t = &nodeTxn{inc: n.inc, coords: make([]*txnHost, txnStatePartitions)}
		n.w.txn.nodes[n.id-1] = t
	}
	return t
}

// txnHost is the shell of one __transaction_state partition's coordinator.
type txnHost struct {
	n       *node
	key     tpKey
	epoch   int32
	core    *txn.Coordinator
	loaded  bool
	loading *partitionLoad
	waiting map[internaltopic.RequestID]pendingTxnRequest
	nextID  internaltopic.RequestID
	// appends are the core's appends to P: batched, in flight, their
	// outcomes in the order sent (txn.AppendWindow, as production's).
	appends *txn.AppendWindow
	// gate holds requests and ticks while the broker lease has lapsed
	// (node_txn_hold.go); recheckArmed says a look at the lease is
	// scheduled.
	gate         groups.LeaseGate[pendingTxnRequest]
	recheckArmed bool
	// topicsEra is the epoch of the image whose topics the core was told
	// (-1: none yet).
	topicsEra int64
}

type pendingTxnRequest struct {
	req     kmsg.Request
	respond func(kmsg.Response)
}

func (th *txnHost) now() internaltopic.Time {
	now := th.n.instant()
	return internaltopic.Time{WallMs: now.WallMs, MonoMs: now.MonoMs}
}

// txnConfig is a coordinator core's configuration; completions wait for
// the next add as the broker's do (actors' txnCompleteDelayMs).
func (n *node) txnConfig(epoch int32) txn.Config {
	return txn.Config{CoordinatorEpoch: epoch, OffsetsPartitions: offsetsPartitions, CompleteDelayMs: 20}
}

// syncTxnCoordinators starts a coordinator for each __transaction_state
// partition the node leads, and stops those of partitions it no longer
// leads in the same leader epoch.
func (n *node) syncTxnCoordinators() {
	if !n.up {
		return
	}
	if _, ok := n.image.Topic(txn.StateTopic); !ok && n.w.txn.nodes[n.id-1] == nil {
		return
	}
	t := n.txns()
	for p, th := range t.coords {
		if th == nil {
			continue
		}
		h := n.replicas[th.key]
		if h == nil || h.core == nil || !h.core.IsLeader() || h.core.LeaderEpoch() != th.epoch {
			th.stop()
			t.coords[p] = nil
		}
	}
	for _, k := range n.keys {
		if k.topic != txn.StateTopic || k.partition >= txnStatePartitions {
			continue
		}
		h := n.replicas[k]
		if h == nil || h.core == nil || !h.core.IsLeader() {
			continue
		}
		th := t.coords[k.partition]
		if th == nil {
			th = &txnHost{n: n, key: k, epoch: h.core.LeaderEpoch(), core: txn.NewCoordinator(n.txnConfig(h.core.LeaderEpoch())),
				waiting: map[internaltopic.RequestID]pendingTxnRequest{}, appends: txn.NewAppendWindow(txnAppendsInFlight), topicsEra: -1}
			t.coords[k.partition] = th
			n.w.tracef("%s: transaction coordinator of %s starts (coordinator epoch %d)", n.name(), k, th.epoch)
		}
		if !th.loaded {
			th.load(h)
		}
	}
}

// load starts loading the partition once the leader's high watermark
// reached its log end (as the group coordinators' shell does); its reads
// are events (coordinator_load.go).
func (th *txnHost) load(h *replicaHost) {
	if th.loading != nil || h.core.HighWatermark() < h.core.LogEndOffset() {
		return
	}
	n, core := th.n, th.core
	var read []loadedRecord
	th.loading = &partitionLoad{n: n, key: th.key, what: "transaction coordinator", current: func() bool { return th.core == core && core != nil },
		feed: func(p []byte, from int64) (int64, error) {
			read = append(read, n.w.txn.checks.loadedLog(p)...)
			return core.Load(p, from)
		},
		loaded: func() {
			th.loaded = true
			n.w.txn.checks.loaded(n, read)
			read = nil
			core.Loaded(th.now())
			n.w.tracef("%s: transaction coordinator of %s loaded %d records", n.name(), th.key, core.LoadedRecords())
			th.carryOut()
		},
		restart: func() {
			th.stop()
			if t := n.txns(); t.coords[th.key.partition] == th {
				t.coords[th.key.partition] = nil
			}
		},
		fail: func(err error) {
			n.w.violation("S8", n.name()+": transaction coordinator of "+th.key.String()+" cannot load the partition: "+err.Error())
		}}
	th.loading.start(h.log.LogStartOffset())
}

// handle feeds a request to the core; respond takes its answer.
func (th *txnHost) handle(req kmsg.Request, respond func(kmsg.Response)) {
	th.refreshTopics()
	th.nextID++
	th.waiting[th.nextID] = pendingTxnRequest{req: req, respond: respond}
	th.core.Handle(th.nextID, req, th.now())
	th.carryOut()
}

// carryOut does what the core asks, in production's order: producer ids,
// appends (queued), the partitions that joined transactions, markers, then
// replies; the queued appends go once the core has nothing left.
func (th *txnHost) carryOut() {
	for th.core != nil {
		rd := th.core.Ready()
		if rd.Empty() {
			break
		}
		for _, id := range rd.Allocs {
			th.allocate(id)
		}
		th.appends.Queue(rd.Appends...)
		th.partitionsAdded(rd.Added)
		if len(rd.Markers) > 0 {
			th.writeMarkers(rd.Markers)
		}
		for _, r := range rd.Replies {
			if p, ok := th.waiting[r.ID]; ok {
				delete(th.waiting, r.ID)
				p.respond(r.Response)
			}
		}
	}
	th.flush()
}

func (th *txnHost) allocate(id txn.AllocID) {
	th.n.allocateProducerID(func(pid int64, code int16) {
		if th.core == nil {
			return
		}
		th.core.ProducerIDAllocated(id, pid, code, th.now())
		th.carryOut()
	})
}

// partitionsAdded tells the leaders on this node that their partitions
// joined a producer's ongoing transaction (the others verify the first
// produce).
func (th *txnHost) partitionsAdded(added []txn.PartitionsAdded) {
	for _, a := range added {
		for _, tp := range a.Partitions {
			if h := th.n.replicas[tpKey{tp.Topic, tp.Partition}]; h != nil && h.core != nil {
				h.deliver(func() { h.core.TxnPartitionAdded(a.ProducerID, a.ProducerEpoch) })
			}
		}
	}
}

// txnAppendsInFlight is how many batches a coordinator has in flight to
// its partition, as production's coordinatorAppendsInFlight
// (actors/txn_coordinator_appends.go).
const txnAppendsInFlight = 2

// flush appends the batch the window lets go with acks=all (acks=1 under
// the state-acks-one plant).
func (th *txnHost) flush() {
	if th.core == nil {
		return
	}
	b := th.appends.Next()
	if b == nil {
		return
	}
	n, records := th.n, b.Records
	done := func(code int16) { th.appended(b, code) }
	h := n.replicas[th.key]
	if h == nil || h.core == nil {
		n.post(func() { done(kerr.NotLeaderForPartition.Code) })
		return
	}
	now := n.instant()
	wid := h.await(waiter{kind: waitGroupAppend, done: done})
	acks := int16(-1)
	if n.w.opts.Plant == PlantStateAcksOne {
		acks = 1
		n.w.stats.PlantFired++
	}
	h.deliver(func() {
		h.core.Produce(wid, cluster.ProduceRequest{Records: txn.EncodeBatch(records, now.WallMs), Acks: acks, TimeoutMs: txnAppendTimeoutMs}, n.instant())
		h.carryOut()
	})
}

// appended takes batch b's outcome and reports to the core the outcomes
// of the batches due, in the order they were sent; an acknowledged one
// holds the coordinator's decisions, which the checks learn first.
func (th *txnHost) appended(b *txn.AppendBatch, code int16) {
	due := th.appends.Answered(b, code)
	if th.core == nil {
		return
	}
	for _, done := range due {
		if done.Code == 0 {
			th.n.w.txn.checks.decided(th.n, done.Records)
		}
		for _, id := range done.IDs {
			th.core.Appended(id, done.Code, th.now())
		}
	}
	th.carryOut()
}

// writeMarkers sends the markers to their partitions' leaders, one
// WriteTxnMarkers per leader, and reports each marker's outcome to the
// core. A partition whose topic is gone counts as written; one with no
// leader gets NOT_LEADER_OR_FOLLOWER (the core retries). Under the
// wrong-marker plant the first commit marker of each call is sent as an
// abort marker.
func (th *txnHost) writeMarkers(markers []txn.Marker) {
	n, w := th.n, th.n.w
	report := func(m txn.Marker, code int16) {
		if th.core != nil {
			th.core.MarkerWritten(m, code, th.now())
			th.carryOut()
		}
	}
	var leaders []int32
	byLeader := map[int32][]txn.Marker{}
	planted := false
	for _, m := range markers {
		t, ok := n.image.Topic(m.Topic)
		switch {
		case !ok || m.Partition >= t.PartitionCount():
			n.post(func() { report(m, 0) })
		case t.Partitions[m.Partition].Leader < 0:
			n.post(func() { report(m, kerr.NotLeaderForPartition.Code) })
		default:
			leader := t.Partitions[m.Partition].Leader
			if _, ok := byLeader[leader]; !ok {
				leaders = append(leaders, leader)
			}
			byLeader[leader] = append(byLeader[leader], m)
		}
	}
	slices.Sort(leaders)
	for _, leader := range leaders {
		ms := byLeader[leader]
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Version = 1
		for _, m := range ms {
			e := kmsg.NewWriteTxnMarkersRequestMarker()
			e.ProducerID, e.ProducerEpoch, e.Committed, e.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
			if w.opts.Plant == PlantWrongMarker && m.Commit && !planted {
				e.Committed, planted = false, true
				w.stats.PlantFired++
				w.tracef("%s: plant wrong-marker: an abort marker for %s's committed transaction to %s/%d", n.name(), m.TransactionalID, m.Topic, m.Partition)
			}
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic, t.Partitions = m.Topic, []int32{m.Partition}
			e.Topics = append(e.Topics, t)
			req.Markers = append(req.Markers, e)
		}
		w.call(n, n.id, leader, &txnEnvelope{inc: n.inc, body: req}, txnMarkerRPCMs, func(body any, err error) {
			resp, _ := body.(*kmsg.WriteTxnMarkersResponse)
			for i, m := range ms {
				code := kerr.RequestTimedOut.Code
				if err == nil && resp != nil {
					code = kerr.UnknownServerError.Code
					if i < len(resp.Markers) && len(resp.Markers[i].Topics) == 1 && len(resp.Markers[i].Topics[0].Partitions) == 1 {
						code = resp.Markers[i].Topics[0].Partitions[0].ErrorCode
					}
				}
				report(m, code)
			}
		})
	}
}

// tick ticks the core, through the lease gate, when its deadline passed.
func (th *txnHost) tick(nowMono int64) {
	if th.core == nil || !th.loaded || th.gate.Holding() || nowMono < th.core.NextDeadlineMs() {
		return
	}
	th.gateOutcome(th.gate.Tick(th.n.leaseHolds(), nowMono))
}

// deadlineMs is the core's next deadline (monotonic), never while loading
// or while the lease gate holds a tick.
func (th *txnHost) deadlineMs() int64 {
	if th.core == nil || !th.loaded || th.gate.Holding() {
		return never
	}
	return th.core.NextDeadlineMs()
}

// stop ends the coordinator: every request it owes an answer, or holds,
// is told NOT_COORDINATOR.
func (th *txnHost) stop() {
	th.answerHeld()
	for _, id := range sortedIDs(th.waiting) {
		p := th.waiting[id]
		p.respond(txn.ErrorResponse(p.req, kerr.NotCoordinator.Code))
	}
	th.waiting = nil
	th.core = nil
	th.n.w.tracef("%s: transaction coordinator of %s stops", th.n.name(), th.key)
}

// txnDeadline is the earliest deadline of the node's coordinators (virtual
// time).
func (n *node) txnDeadline() int64 {
	t := n.w.txn.nodes[n.id-1]
	if t == nil || t.inc != n.inc {
		return never
	}
	next := never
	for _, th := range t.coords {
		if th != nil {
			next = min(next, n.monoToVirtual(th.deadlineMs()))
		}
	}
	return next
}

// txnTick ticks the node's coordinators whose deadline passed.
func (n *node) txnTick(nowMono int64) {
	t := n.w.txn.nodes[n.id-1]
	if t == nil || t.inc != n.inc {
		return
	}
	for _, th := range t.coords {
		if th != nil {
			th.tick(nowMono)
		}
	}
}

// serveTxn takes a transaction request, once and in order per sender.
func (n *node) serveTxn(m *message, env *txnEnvelope) {
	k := linkKey{m.from, m.to}
	if last, ok := n.w.txn.delivered[k]; ok && (env.inc < last.inc || env.inc == last.inc && m.corr <= last.corr) {
		n.w.tracef("%s: drops %s from %s: an older request than one the link delivered", n.name(), kmsg.NameForKey(env.body.Key()), endpointName(m.from))
		return
	}
	n.w.txn.delivered[k] = envelopeSeq{env.inc, m.corr}
	respond := func(resp kmsg.Response) { n.w.respond(m, resp) }
	switch req := env.body.(type) {
	case *kmsg.InitProducerIDRequest:
		if req.TransactionalID == nil {
			n.initIdempotentProducer(req, respond)
			return
		}
		n.toTxnCoordinator(req, *req.TransactionalID, respond)
	case *kmsg.AddPartitionsToTxnRequest:
		n.addPartitionsToTxn(req, respond)
	case *kmsg.AddOffsetsToTxnRequest:
		n.toTxnCoordinator(req, req.TransactionalID, respond)
	case *kmsg.EndTxnRequest:
		n.toTxnCoordinator(req, req.TransactionalID, respond)
	case *kmsg.DescribeTransactionsRequest:
		if len(req.TransactionalIDs) == 1 {
			n.toTxnCoordinator(req, req.TransactionalIDs[0], respond)
			return
		}
		respond(txn.ErrorResponse(req, kerr.InvalidRequest.Code))
	case *kmsg.TxnOffsetCommitRequest:
		n.serveGroup(m, req, req.Group)
	case *kmsg.WriteTxnMarkersRequest:
		n.serveMarkers(req, respond)
	default:
		panic("sim: " + n.name() + " got a transaction request of type " + kmsg.NameForKey(req.Key()))
	}
}

// toTxnCoordinator hands a request to the coordinator of its transactional
// id on this node, or answers NOT_COORDINATOR.
func (n *node) toTxnCoordinator(req kmsg.Request, txnID string, respond func(kmsg.Response)) {
	th := n.txns().coords[txn.PartitionFor(txnID, txnStatePartitions)]
	if th == nil || th.core == nil {
		respond(txn.ErrorResponse(req, kerr.NotCoordinator.Code))
		return
	}
	th.admit(req, respond)
}

// addPartitionsToTxn checks a producer's partitions exist (else
// UNKNOWN_TOPIC_OR_PARTITION for them and OPERATION_NOT_ATTEMPTED for the
// others, as Kafka answers) and hands the request to the coordinator; a
// broker's verification (v4, one transaction) goes straight there.
func (n *node) addPartitionsToTxn(req *kmsg.AddPartitionsToTxnRequest, respond func(kmsg.Response)) {
	if req.Version >= 4 {
		if len(req.Transactions) != 1 {
			respond(txn.ErrorResponse(req, kerr.InvalidRequest.Code))
			return
		}
		n.toTxnCoordinator(req, req.Transactions[0].TransactionalID, respond)
		return
	}
	resp := txn.ErrorResponse(req, kerr.OperationNotAttempted.Code).(*kmsg.AddPartitionsToTxnResponse)
	missing := false
	for i := range resp.Topics {
		t, ok := n.image.Topic(resp.Topics[i].Topic)
		for j := range resp.Topics[i].Partitions {
			if p := &resp.Topics[i].Partitions[j]; !ok || p.Partition < 0 || p.Partition >= t.PartitionCount() {
				p.ErrorCode, missing = kerr.UnknownTopicOrPartition.Code, true
			}
		}
	}
	if missing {
		respond(resp)
		return
	}
	n.toTxnCoordinator(req, req.TransactionalID, respond)
}

// initIdempotentProducer serves InitProducerId without a transactional id:
// a fresh producer id of the node's block at epoch 0.
func (n *node) initIdempotentProducer(req *kmsg.InitProducerIDRequest, respond func(kmsg.Response)) {
	n.allocateProducerID(func(pid int64, code int16) {
		resp := kmsg.NewPtrInitProducerIDResponse()
		resp.Version, resp.ProducerID, resp.ProducerEpoch = req.Version, -1, -1
		if code != 0 {
			resp.ErrorCode = code
		} else {
			resp.ProducerID, resp.ProducerEpoch = pid, 0
		}
		respond(resp)
	})
}

// allocateProducerID hands out the next id of the node's block (after the
// current event), asking the controller for a block when it ran out.
func (n *node) allocateProducerID(done func(pid int64, code int16)) {
	t := n.txns()
	if t.pidNext < t.pidEnd {
		pid := t.pidNext
		t.pidNext++
		n.post(func() { done(pid, 0) })
		return
	}
	t.pidWaiting = append(t.pidWaiting, done)
	if !t.pidAsking {
		n.askForProducerIDs(t)
	}
}

// askForProducerIDs sends AllocateProducerIDs to the controller (through
// the node's controller channel, as production's broker does) with the
// broker's registration; the waiters get ids from the block, or
// COORDINATOR_LOAD_IN_PROGRESS (the clients retry) when none came.
func (n *node) askForProducerIDs(t *nodeTxn) {
	w := n.w
	fail := func() {
		waiting := t.pidWaiting
		t.pidWaiting, t.pidAsking = nil, false
		for _, done := range waiting {
			done(-1, kerr.CoordinatorLoadInProgress.Code)
		}
	}
	if n.brokerEpoch() < 0 {
		n.post(fail)
		return
	}
	t.pidAsking = true
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = n.id, n.brokerEpoch()
	n.sendToController(req, w.timing.controllerRPCTimeoutMs, func(body kmsg.Response, err error) {
		resp, _ := body.(*kmsg.AllocateProducerIDsResponse)
		switch {
		case err != nil || resp == nil:
			fail()
		case resp.ErrorCode != 0 || resp.ProducerIDLen <= 0 || resp.ProducerIDStart < 0:
			fail()
		default:
			t.pidNext, t.pidEnd, t.pidAsking = resp.ProducerIDStart, resp.ProducerIDStart+int64(resp.ProducerIDLen), false
			w.tracef("%s: producer ids [%d, %d) allocated", n.name(), t.pidNext, t.pidEnd)
			for len(t.pidWaiting) > 0 && t.pidNext < t.pidEnd {
				done, pid := t.pidWaiting[0], t.pidNext
				t.pidWaiting, t.pidNext = t.pidWaiting[1:], t.pidNext+1
				done(pid, 0)
			}
			if len(t.pidWaiting) > 0 {
				n.askForProducerIDs(t)
			}
		}
	})
}

// serveMarkers serves WriteTxnMarkers: each partition's leader writes the
// marker through its replica core (answered once the high watermark
// passed it); one written to a __consumer_offsets partition goes to the
// group coordinator of the partition on this node. The answer goes once
// every partition answered.
func (n *node) serveMarkers(req *kmsg.WriteTxnMarkersRequest, respond func(kmsg.Response)) {
	resp := kmsg.NewPtrWriteTxnMarkersResponse()
	resp.Version = req.Version
	type target struct {
		h      *replicaHost
		mi, ti int
		pi     int
		marker *cluster.TxnMarker
		tp     tpKey
	}
	var targets []target
	for mi, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		marker := &cluster.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Committed}
		for ti, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			topic, known := n.image.Topic(t.Topic)
			for pi, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				tp := tpKey{t.Topic, p}
				switch h := n.replicas[tp]; {
				case !known || p < 0 || p >= topic.PartitionCount():
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case h == nil || h.core == nil:
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				default:
					targets = append(targets, target{h: h, mi: mi, ti: ti, pi: pi, marker: marker, tp: tp})
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	pending := len(targets)
	if pending == 0 {
		respond(resp)
		return
	}
	for _, tg := range targets {
		tg := tg
		id := tg.h.await(waiter{kind: waitGroupAppend, done: func(code int16) {
			resp.Markers[tg.mi].Topics[tg.ti].Partitions[tg.pi].ErrorCode = code
			if code == 0 && tg.tp.topic == groups.OffsetsTopic {
				n.groupTxnMarker(tg.tp.partition, tg.marker.ProducerID, tg.marker.Commit)
			}
			if pending--; pending == 0 {
				respond(resp)
			}
		}})
		h, marker := tg.h, tg.marker
		h.deliver(func() {
			h.core.Produce(id, cluster.ProduceRequest{Acks: -1, Marker: marker}, n.instant())
			h.carryOut()
		})
	}
}

// groupTxnMarker hands a marker written to a __consumer_offsets partition
// to its loaded group coordinator on this node (one still loading replays
// it from the log).
func (n *node) groupTxnMarker(partition int32, producerID int64, commit bool) {
	if int(partition) >= len(n.coords) {
		return
	}
	if gh := n.coords[partition]; gh != nil && gh.core != nil && gh.loaded {
		gh.core.TransactionMarker(producerID, commit)
	}
}

// serveProducerProduce routes a producer's batch to its partition's replica
// core with its transactional id. Under the forget-sequence plant, a retry
// of a batch the partition has (same producer, epoch and sequences) loses
// its producer id and sequence first, as if the partition had forgotten
// it: it is appended again.
func (n *node) serveProducerProduce(m *message, req *producerProduce) {
	h := n.replicas[tpKey{req.topic, req.partition}]
	if h == nil || h.core == nil {
		code := kerr.NotLeaderForPartition.Code
		if t, ok := n.image.Topic(req.topic); !ok || req.partition >= t.PartitionCount() {
			code = kerr.UnknownTopicOrPartition.Code
		}
		n.w.respond(m, &produceResponse{errorCode: code, baseOffset: -1})
		return
	}
	records := req.records
	if n.w.opts.Plant == PlantForgetSequence {
		records = h.plantForgetSequence(records)
	}
	id := h.await(waiter{kind: waitProduce, req: m})
	h.deliver(func() {
		h.core.Produce(id, cluster.ProduceRequest{Records: records, Acks: req.acks, TimeoutMs: req.timeoutMs, TransactionalID: req.transactionalID,
			TxnOperation: req.txnOperation}, n.instant())
		h.carryOut()
	})
}

// plantForgetSequence is the forget-sequence plant: an idempotent
// (non-transactional) batch that repeats one the partition remembers is
// stripped of its producer id, epoch and sequence.
func (h *replicaHost) plantForgetSequence(records []byte) []byte {
	if len(records) < logstore.BatchHeaderBytes || !h.core.IsLeader() {
		return records
	}
	info := logstore.ReadProducerBatchInfo(records)
	if info.ProducerID < 0 || info.Transactional || info.Control || info.BaseSequence < 0 {
		return records
	}
	e, ok := h.core.Producers().Get(info.ProducerID)
	if !ok || e.ProducerEpoch != info.ProducerEpoch {
		return records
	}
	if _, dup := e.FindBatch(info.BaseSequence, info.LastSequence); !dup {
		return records
	}
	p := slices.Clone(records)
	for i := 43; i < 51; i++ { // producer id -1
		p[i] = 0xff
	}
	p[51], p[52] = 0xff, 0xff  // producer epoch -1
	for i := 53; i < 57; i++ { // base sequence -1
		p[i] = 0xff
	}
	logstore.ChecksumBatch(p)
	h.n.w.stats.PlantFired++
	h.n.w.tracef("%s %s: plant forget-sequence: producer %d's sequence %d appended again", h.n.name(), h.key, info.ProducerID, info.BaseSequence)
	return p
}

// verifyTxn asks the coordinator of a transactional produce's id whether
// the partition is in the producer's ongoing transaction (the verify-only
// AddPartitionsToTxn v4 of KIP-890 part 1), or, when the core asks to add
// it (a part 2 producer's Produce v12 or TxnOffsetCommit v5), to add it
// (AddPartitionsToTxn v5), and hands the answer to the replica core, as
// production's brokers do: NOT_ENOUGH_REPLICAS (the producer retries) when
// the coordinator cannot answer now.
func (n *node) verifyTxn(h *replicaHost, v cluster.VerifyTxn) {
	answer := func(code int16) {
		if n.replicas[h.key] != h || h.core == nil {
			return
		}
		h.deliver(func() {
			h.core.TxnVerified(v.ID, code, n.instant())
			h.carryOut()
		})
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if v.Add {
		req.Version = 5
	}
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = v.TransactionalID, v.ProducerID, v.ProducerEpoch, !v.Add
	topic := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	topic.Topic, topic.Partitions = h.key.topic, []int32{h.key.partition}
	tx.Topics = append(tx.Topics, topic)
	req.Transactions = append(req.Transactions, tx)
	p := txn.PartitionFor(v.TransactionalID, txnStatePartitions)
	if th := n.txns().coords[p]; th != nil && th.core != nil {
		th.admit(req, func(resp kmsg.Response) {
			code := txn.AnswerCode(resp, h.key.topic, h.key.partition)
			n.post(func() { answer(code) })
		})
		return
	}
	leader := int32(-1)
	if t, ok := n.image.Topic(txn.StateTopic); ok && int(p) < len(t.Partitions) {
		leader = t.Partitions[p].Leader
	}
	if leader < 0 || leader == n.id {
		n.post(func() { answer(kerr.NotEnoughReplicas.Code) })
		return
	}
	n.w.call(n, n.id, leader, &txnEnvelope{inc: n.inc, body: req}, n.w.timing.requestTimeoutMs, func(body any, err error) {
		code := kerr.NotEnoughReplicas.Code
		if resp, ok := body.(kmsg.Response); err == nil && ok {
			code = txn.AnswerCode(resp, h.key.topic, h.key.partition)
		}
		answer(code)
	})
}

// refreshTopics tells the core the partition counts of the node's image's
// topics when it changed (txn.Coordinator.SetTopics), as production's
// coordinators do.
func (th *txnHost) refreshTopics() {
	img := th.n.image
	if img.Epoch == th.topicsEra {
		return
	}
	th.topicsEra = img.Epoch
	th.core.SetTopics(img.PartitionCounts())
}

// txnStateKey is the __transaction_state partition of a transactional id.
func txnStateKey(tid string) tpKey {
	return tpKey{txn.StateTopic, txn.PartitionFor(tid, txnStatePartitions)}
}

// hangingAfterHealMs is how long after the heal the operator waits before
// it calls a transaction hanging: longer than a coordinator's
// WriteTxnMarkers call sent before the heal may take to time out and be
// retried (txnMarkerRPCMs). The simulator's RPCs to a node that crashed
// wait for their timeout, as a request on a connection to a host cut off
// does: at 20 s, the operator once aborted a transaction whose
// coordinator's commit markers, sent to a leader that crashed 10 s before
// the heal, were still waiting out their 35 s, and the coordinator then
// wrote them (seed 121481: S8).
const hangingAfterHealMs = txnMarkerRPCMs + 5_000

// abortHanging is the operator's part after healing (kafka-transactions.sh
// abort, Kafka's AbortTransaction): a transaction still open on a
// partition hangingAfterHealMs after the heal, whose records a loss the
// guarantees allow may have cut from its coordinator (a loss of its
// __transaction_state partition's committed records, World.lostCommitted)
// or from the partition itself (its marker), hangs: nothing will end it.
// A power loss or wipe of fewer replicas than min.insync.replicas cuts no
// acknowledged record, so it leaves the transaction to the liveness
// check. The admin writes its abort marker (as the coordinator's
// decision), and the loss is reported. Any other open transaction is left
// to the liveness check.
func (w *World) abortHanging(admin *client) {
	var healedAt int64 = -1
	var tick func()
	tick = func() {
		if w.phase == phaseDone {
			return
		}
		w.schedule(w.now+5000, tick)
		if w.phase != phaseHealing {
			return
		}
		if healedAt < 0 {
			healedAt = w.now
		}
		if w.now < healedAt+hangingAfterHealMs {
			return
		}
		tids := map[int64]string{}
		for _, op := range w.txn.txns {
			tids[op.pid] = op.tid
		}
		for _, n := range w.nodes {
			if !n.up {
				continue
			}
			for _, k := range n.keys {
				h := n.replicas[k]
				if h == nil || h.core == nil || !h.core.IsLeader() || h.core.LastStableOffset() >= h.core.HighWatermark() {
					continue
				}
				ongoing := h.core.Producers().Ongoing()
				pids := slices.Collect(maps.Keys(ongoing))
				slices.Sort(pids)
				for _, pid := range pids {
					tid, known := tids[pid]
					if !w.lostCommitted(k) && (!known || !w.lostCommitted(txnStateKey(tid))) {
						continue
					}
					e, _ := h.core.Producers().Get(pid)
					w.loss("%s: producer %d's transaction from offset %d hangs after a loss (its coordinator's or the partition's); the operator aborts it",
						k, pid, ongoing[pid])
					w.txn.checks.decisions[pidEpoch{pid, e.ProducerEpoch}] = false
					req := kmsg.NewPtrWriteTxnMarkersRequest()
					req.Version = 1
					m := kmsg.NewWriteTxnMarkersRequestMarker()
					m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, e.ProducerEpoch, false, e.CoordinatorEpoch
					m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: k.topic, Partitions: []int32{k.partition}}}
					req.Markers = append(req.Markers, m)
					admin.call(n.id, &txnEnvelope{body: req}, w.timing.requestTimeoutMs, func(any, error) {})
				}
			}
		}
	}
	w.schedule(w.now+5000, tick)
}

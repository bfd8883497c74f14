package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/netio"
)

// producePartition asks a partition actor to append the records of one
// partition of a Produce request. reply is called exactly once, unless acks is
// 0 (then never). records point into the request's pooled frame, held until
// releaseRecords: the partition calls it once the append copied them (or
// refused them), and never reads records after.
type producePartition struct {
	records   []byte
	acks      int16
	timeoutMs int32
	// marker, when set, is a transaction marker to write instead of
	// records (WriteTxnMarkers).
	marker *cluster.TxnMarker
	// transactionalID is the request's, for the verification of a
	// transactional batch (txn_partition_verify.go).
	transactionalID string
	// txnOperation says whether the partition may add itself to the
	// transaction (Produce v12+, TxnOffsetCommit v5+) or only verify it.
	txnOperation cluster.TxnOperation
	// added, when set, tells the partition first that it joined the
	// producer's ongoing transaction (the request's one ask added it,
	// api_txn_produce.go), so it appends without asking.
	added *txnPartitionAdded
	// addRefusal, when set, is the code the partition refuses the produce
	// with should it need to ask the coordinator (the request's one ask was
	// not answered in time, api_txn_produce.go): it asks nothing.
	addRefusal int16
	reply      func(producePartitionResult)
	// slot, when set, is where the answer goes instead of reply: the
	// partition's place in a Produce's answer (producePartitions).
	slot    *produceSlot
	release func()
	// ownRecords says records were built for this append alone (a
	// coordinator's batch) and nothing touches them after it: a leader's
	// log may hold them for its followers' fetches as it holds a
	// produce's frame (holdableProduce), and lets the garbage collector
	// have them after.
	ownRecords bool
	// inline: the append runs on its sender's goroutine if it finds the
	// partition actor idle (a coordinator's batch, flushAppends).
	inline bool
}

// answers says whether the produce wants an answer (acks is not 0).
func (m *producePartition) answers() bool { return m.slot != nil || m.reply != nil }

// answer gives the produce's answer (once): to its slot or its reply.
func (m *producePartition) answer(res producePartitionResult) {
	if m.slot != nil {
		m.slot.answer(res)
		return
	}
	m.reply(res)
}

// produceSlot is one partition's place in a Produce's fan-out: its message,
// where in the answer its result goes and its leader hint. A request makes its slots in one
// slab, and each message answers through its slot, so a partition costs the
// request no closure (a fill and a reply closure each before: two
// allocations per partition of every Produce).
type produceSlot struct {
	msg    producePartition
	fan    *produceFan
	ti, pi int
	// hint is the partition's leader hint: the image's, then its
	// answer's.
	hint *cluster.LeaderHint
}

// produceFan is a Produce's fan-out and the answer it fills.
type produceFan struct {
	fo   fanOut[producePartitionResult]
	resp *kmsg.ProduceResponse
}

// answer fills the slot's partition of the answer, unless the request was
// answered already (its deadline passed).
func (s *produceSlot) answer(res producePartitionResult) {
	f := s.fan
	f.fo.m.finish(func() {
		setProduceResult(&f.resp.Topics[s.ti].Partitions[s.pi], res)
		s.hint = res.currentLeader
	})
}

// runsInline implements inlineMessage.
func (m *producePartition) runsInline() bool { return m.inline }

// ownsBatch says the batch m appends is memory of its own that nothing
// touches after the append: a marker's (the partition's core builds it) or
// a coordinator's (ownRecords).
func (m *producePartition) ownsBatch() bool { return m.marker != nil || m.ownRecords }

// heldRelease is what a log that holds m's batch calls when it lets go of
// it: the frame's release, or nothing to do for a batch m owns (the
// garbage collector has it).
func (m *producePartition) heldRelease() func() {
	if m.release == nil && m.ownsBatch() {
		return func() {}
	}
	return m.release
}

// releaseRecords gives the request's frame back (once).
func (m *producePartition) releaseRecords() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// producePartitionResult is one partition's answer to a Produce request.
type producePartitionResult struct {
	errorCode    int16
	errorMessage string
	// recordErrors are the refused records of a per-record refusal.
	recordErrors    []logstore.RecordError
	baseOffset      int64
	logAppendTimeMs int64
	logStartOffset  int64
	// currentLeader is the leader as the partition knows it, given with
	// NOT_LEADER_OR_FOLLOWER (KIP-951); nil for none.
	currentLeader *cluster.LeaderHint
}

func (r *router) produce(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response)) {
	if body.TransactionID != nil {
		// Each partition must be in the producer's ongoing transaction
		// (api_txn_produce.go); then the produce goes on as any other.
		r.verifyTransactionalProduce(req, body, respond)
		return
	}
	r.producePartitions(req, body, respond, nil, nil)
}

// producePartitions hands each partition's records to its actor; those of
// added, when set, are told first that they joined the producer's
// transaction (or, when its ask was not answered in time, what to refuse
// the produce with rather than ask).
func (r *router) producePartitions(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response), added *producedAddition, held *heldBatches) {
	rt := r.node.routes.load()
	resp := body.ResponseKind().(*kmsg.ProduceResponse)
	byID := body.Version >= 13
	// The partitions' slots (with their leader hints) and sends are made
	// in one slab each (one allocation, not one per partition), the
	// answer's lists at their final sizes.
	count := 0
	for _, t := range body.Topics {
		count += len(t.Partitions)
	}
	fan := &produceFan{resp: resp}
	fo := &fan.fo
	slots := make([]produceSlot, count)
	all := slots // in the answer's order
	fo.sends = make([]fanOutSend, 0, count)
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(body.Topics))
	for ti, t := range body.Topics {
		rtopic := kmsg.NewProduceResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		rtopic.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(t.Partitions))
		topic, ok := rt.lookupTopic(t.Topic, t.TopicID, byID)
		for pi, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			pid, code := rt.route(topic, ok, byID, p.Partition)
			if code == 0 && cluster.IsInternalTopic(topic.Name) {
				// Only the coordinators append to their topics, not clients.
				pid, code = nil, kerr.InvalidTopicException.Code
			}
			rp.ErrorCode = code
			slot := &slots[0]
			slots = slots[1:]
			slot.fan, slot.ti, slot.pi = fan, ti, pi
			slot.hint = r.node.imageLeaderHint(topic, ok, p.Partition)
			msg := &slot.msg
			*msg = producePartition{records: p.Records, acks: body.Acks, timeoutMs: body.TimeoutMillis, transactionalID: transactionalIDOf(body),
				txnOperation: cluster.TxnOperationForProduce(body.Version)}
			if code == 0 {
				msg.release = req.Retain()
				msg.added, msg.addRefusal = added.of(topic.Name, p.Partition), added.refusalOf(topic.Name, p.Partition)
			}
			switch {
			case code != 0:
			case body.Acks == 0:
				fo.tell(pid, msg)
			default:
				// Overwritten by the answer; stays if none comes in time.
				rp.ErrorCode = kerr.RequestTimedOut.Code
				msg.slot = slot
				fo.expectAnswer(pid, msg)
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	timeout := time.Duration(max(body.TimeoutMillis, 0))*time.Millisecond + produceTimeoutSlack
	r.node.runProduces(fo, timeout, held, func() {
		if body.Acks == 0 {
			// The client wants no answer; the appends still happen.
			respond(nil)
			return
		}
		var leaders hintedLeaders
		for i := range all {
			// Its message may still be in a partition's hands (after the
			// deadline): only the slot's own fields are read.
			slot := &all[i]
			hintProducePartition(&resp.Topics[slot.ti].Partitions[slot.pi], body.Version, slot.hint, &leaders)
		}
		r.node.produceResponseBrokers(resp, leaders)
		respond(resp)
	})
}

// produceTimeoutSlack is how long past the request's own timeout the router
// waits for a partition actor before answering REQUEST_TIMED_OUT for it.
const produceTimeoutSlack = 5 * time.Second

func setProduceResult(p *kmsg.ProduceResponseTopicPartition, res producePartitionResult) {
	p.ErrorCode = res.errorCode
	if res.errorMessage != "" {
		msg := res.errorMessage
		p.ErrorMessage = &msg
	}
	for _, re := range res.recordErrors {
		kre := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		kre.RelativeOffset = re.BatchIndex
		if re.Message != "" {
			m := re.Message
			kre.ErrorMessage = &m
		}
		p.ErrorRecords = append(p.ErrorRecords, kre)
	}
	p.BaseOffset, p.LogAppendTime, p.LogStartOffset = res.baseOffset, res.logAppendTimeMs, res.logStartOffset
}

func (r *router) failProduce(body *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, code int16, respond func(kmsg.Response)) {
	for _, t := range body.Topics {
		rtopic := kmsg.NewProduceResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	if body.Acks == 0 {
		respond(nil)
		return
	}
	respond(resp)
}

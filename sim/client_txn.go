package sim

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore"
	"gregor/txn"
)

// The idempotent and transactional clients of the workload:
//
//   - an idempotent producer (acks=all) gets a producer id from a broker
//     (InitProducerId without a transactional id: the node's block of ids,
//     which the controller allocates), numbers its batches per partition,
//     and retries a send whose outcome it does not know with the same
//     sequence; a send it gives up on costs it its producer id (the next
//     send gets a new one); one refused for its producer (out of order,
//     unknown producer, old epoch: the leader's producer state went back)
//     resets it as franz-go does: a new epoch or id, and the value sent
//     again from sequence 0 (sendIdempotent); with the profile's
//     IdempotentPipeline it keeps several batches in flight per partition
//     (client_idempotent_pipeline.go);
//   - a transactional producer gets its producer id and epoch from its
//     transactional id's coordinator, then runs transactions: it adds 1 to
//     3 partitions, sends 1 or 2 values to each (one batch), and commits, or aborts
//     with the profile's probability; with the profile's TxnPipeline, it
//     sends several batches per partition, pipelined as franz-go does
//     (client_txn_pipeline.go). A send or request that fails aborts
//     the transaction; one fenced ends it (the coordinator aborts it). A
//     transaction the client did not end cleanly costs it its epoch
//     (InitProducerId again, which fences whatever it still had in
//     flight);
//   - a copier (consume-transform-produce) reads one input partition with
//     read_committed from its group's committed offset, and for each poll
//     runs a transaction: the copies of up to 10 records to the output
//     topic, and its next position committed to its group inside the
//     transaction (AddOffsetsToTxn, TxnOffsetCommit). After any
//     transaction but a commit it starts again from the group's committed
//     offset (exactly once, Q12).
//
// A transactional producer or copier with tv2 speaks KIP-890 part 2, as a
// client does once the cluster finalized transaction.version 2: it sends
// no AddPartitionsToTxn or AddOffsetsToTxn (its Produce v12 and
// TxnOffsetCommit v5 add their partitions), and each EndTxn v5 answers a
// new epoch (or producer id), which its next transaction uses with
// sequences from 0.
//
// Every transaction goes to the history (txnOp) with its writes and its
// outcome: ok (committed), fail (aborted: the client never asked to
// commit it) or info (it asked, and does not know).

// stateLossEra is tp's World.stateLossEra when the producer's id and epoch
// began there: now, if it has sent nothing to tp under them (no sequence),
// else what it was then. A transactional producer's pipelines, one per
// transaction, take it from here, so a loss between two of its
// transactions explains an out-of-order refusal in the later one (seed
// 5810050).
func (p *producerState) stateLossEra(tp tpKey, w *World) int {
	era, ok := p.eras[tp]
	if _, sent := p.seqs[tp]; !sent || !ok {
		if p.eras == nil {
			p.eras = map[tpKey]int{}
		}
		era = w.stateLossEra[tp]
		p.eras[tp] = era
	}
	return era
}

// producerState is an idempotent or transactional client's producer.
type producerState struct {
	// tid is the transactional id ("" for an idempotent producer);
	// timeoutMs its transaction timeout.
	tid       string
	timeoutMs int32
	pid       int64
	epoch     int16
	seqs      map[tpKey]int32
	initing   bool
	// lastInit is the last InitProducerId's answer (scenarios print it).
	lastInit string
	abortP   float64
	// tv2 says the producer speaks KIP-890 part 2.
	tv2    bool
	txns   int
	cur    *txnOp
	copier *copierState
	// pipeline is the profile's TxnPipeline (client_txn_pipeline.go), or
	// IdempotentPipeline for an idempotent producer
	// (client_idempotent_pipeline.go); idem is that producer's pipeline
	// of its producer id.
	pipeline int
	idem     *batchPipeline
	// carried are the batches without an outcome of the pipeline a reset
	// ended, each its writes, to be sent again first under the next epoch
	// or id (client_idempotent_pipeline.go).
	carried [][]*sendOp
	// resend is the value a reset of an idempotent producer without a
	// pipeline sends again first; eras the partitions' stateLossEra when
	// its producer id and epoch began there (out_of_order.go).
	resend *sendOp
	eras   map[tpKey]int
	// sinks are the pipelines' sinks per partition (pipeGate).
	sinks map[tpKey]*partitionSink
}

// txnOp is one transaction in the history.
type txnOp struct {
	process    int32
	tid        string
	seq        int
	pid        int64
	epoch      int16
	partitions []tpKey
	writes     []*sendOp
	// sources are, for a copier, the input record each write copies.
	sources []txnSource
	group   string
	// offsets is what a copier commits in the transaction: its next
	// position in source.
	source  tpKey
	offsets int64
	// commit is the client's intent; endSent says it sent EndTxn.
	commit             bool
	endSent            bool
	invokeMs, doneMs   int64
	deadline, endUntil int64
	outcome            outcome
	// lastError is what went wrong (empty: nothing); retryError the last
	// answer a request was retried after.
	lastError, retryError string
	// fenced says a request of the transaction was refused as fenced.
	fenced bool
	// batches, when not nil, are the transaction's batches (each the
	// indexes of its writes, one partition per batch), sent pipelined
	// (client_txn_pipeline.go); nil: the writes to one partition that
	// follow each other go in one batch, batch after batch.
	batches [][]int
}

type txnSource struct {
	tp     tpKey
	offset int64
}

// copierState is a copier's input, output and position.
type copierState struct {
	group    string
	src      tpKey
	out      string
	position int64
	fetching bool
	polling  bool
}

// txnDeadlineCode stands for "the client gave up": a request retried
// until its deadline.
const txnDeadlineCode int16 = -1

// txnAbandonedCode stands for "the client gave up the send": its
// transaction failed while the send waited to be retried.
const txnAbandonedCode int16 = -2

// codeName is a Kafka error code's name (PRODUCER_FENCED), "ok" for 0.
func codeName(code int16) string {
	switch code {
	case txnDeadlineCode:
		return "deadline passed"
	case txnAbandonedCode:
		return "abandoned"
	case 0:
		return "ok"
	}
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		return ke.Message
	}
	return errorName(code)
}

// fencedCode says a code means the producer's epoch is over: its
// transaction cannot be ended by it.
func fencedCode(code int16) bool {
	switch code {
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.TransactionalIDAuthorizationFailed.Code:
		return true
	}
	return false
}

// producerRefusal says a produce answer refuses the batch for its producer
// (not appended, and not to be retried with this producer id and epoch).
func producerRefusal(code int16) bool {
	switch code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidTxnState.Code:
		return true
	}
	return fencedCode(code)
}

// retriableTxnCode says a coordinator's answer asks to try again.
func retriableTxnCode(code int16) bool {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.RequestTimedOut.Code, kerr.UnknownTopicOrPartition.Code,
		kerr.NotEnoughReplicas.Code, kerr.UnstableOffsetCommit.Code, kerr.RebalanceInProgress.Code:
		return true
	}
	return false
}

// txnCoordinator is the leader of the transactional id's
// __transaction_state partition, as the client's metadata has it.
func (c *client) txnCoordinator() int32 {
	leader, _ := c.leader(tpKey{txn.StateTopic, txn.PartitionFor(c.prod.tid, txnStatePartitions)})
	if leader < 0 {
		c.refreshMetadata()
	}
	return leader
}

// groupCoordinatorOf is the leader of a group's __consumer_offsets
// partition.
func (c *client) groupCoordinatorOf(group string) int32 {
	leader, _ := c.leader(tpKey{groups.OffsetsTopic, groups.PartitionFor(group, offsetsPartitions)})
	if leader < 0 {
		c.refreshMetadata()
	}
	return leader
}

// pickPartition draws one of the workload's partitions the client knows.
func (c *client) pickPartition() (tpKey, bool) {
	names := c.sharedTopicNames()
	if len(names) == 0 {
		c.refreshMetadata()
		return tpKey{}, false
	}
	t := c.meta.topics[names[c.w.rngWorkload.IntN(len(names))]]
	if len(t.partitions) == 0 {
		return tpKey{}, false
	}
	return tpKey{t.name, int32(c.w.rngWorkload.IntN(len(t.partitions)))}, true
}

// initProducer asks for a producer id: from a broker for an idempotent
// producer, from the transactional id's coordinator (which bumps its
// epoch, fencing an older producer) for a transactional one. A failure is
// tried again at the next tick.
func (c *client) initProducer() {
	w, p := c.w, c.prod
	to := int32(-1)
	if p.tid == "" {
		to = c.meta.brokers[c.meta.next%len(c.meta.brokers)]
		c.meta.next++
	} else if to = c.txnCoordinator(); to < 0 {
		return
	}
	p.initing = true
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.ProducerID, req.ProducerEpoch, req.TransactionTimeoutMillis = 4, -1, -1, 60_000
	if p.tid != "" {
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(p.tid), p.timeoutMs
	}
	c.call(to, &txnEnvelope{body: req}, w.timing.requestTimeoutMs, func(body any, err error) {
		p.initing = false
		resp, _ := body.(*kmsg.InitProducerIDResponse)
		switch {
		case err != nil:
			p.lastInit = "InitProducerId: " + err.Error()
			c.refreshMetadata()
		case resp == nil:
			p.lastInit = "InitProducerId: no answer"
		case resp.ErrorCode != 0:
			p.lastInit = "InitProducerId: " + codeName(resp.ErrorCode)
			c.refreshMetadata()
		default:
			p.pid, p.epoch, p.seqs = resp.ProducerID, resp.ProducerEpoch, map[tpKey]int32{}
			p.lastInit = ""
			if p.tid != "" {
				w.txn.noteEpochIssued(p.tid, p.pid, p.epoch, w.now)
			}
			w.tracef("%s: producer id %d epoch %d%s", c.name(), p.pid, p.epoch, map[bool]string{true: " for " + p.tid}[p.tid != ""])
		}
	})
}

// producerSend sends an idempotent or transactional batch (the same
// sequence on every attempt) until it is acknowledged, refused for its
// producer, refused for good, abandoned, or op's deadline passes; done
// gets 0, the refusal's code, txnAbandonedCode or txnDeadlineCode.
func (c *client) producerSend(op *sendOp, batch []byte, tid string, done func(code int16)) {
	w := c.w
	if op.abandoned {
		done(txnAbandonedCode)
		return
	}
	if w.now >= op.deadline {
		done(txnDeadlineCode)
		return
	}
	leader, epoch := c.leader(op.tp)
	if leader < 0 {
		c.refreshMetadata()
		c.at(w.now+w.timing.retryBackoffMs, func() { c.producerSend(op, batch, tid, done) })
		return
	}
	g := op.gate
	if g != nil && !g.mayGo(leader) {
		g.wait(func() { c.producerSend(op, batch, tid, done) })
		return
	}
	op.attempts++
	op.attempt = produceAttempt{to: leader, epoch: epoch, answerEpoch: -1, rewound: epoch < c.meta.newestEpoch[op.tp]}
	req := &producerProduce{produceRequest: produceRequest{topic: op.tp.topic, partition: op.tp.partition, records: slices.Clone(batch),
		acks: -1, timeoutMs: int32(w.timing.requestTimeoutMs - 1000)}, transactionalID: tid}
	if tid != "" && c.prod != nil && c.prod.tv2 {
		req.txnOperation = cluster.TxnOperationForProduce(12)
	}
	req.ordered = c.prod != nil && c.prod.pipeline > 1
	call := c.call
	if req.ordered {
		call = c.callInOrder
	}
	if g != nil {
		g.went(leader)
		defer g.wake()
	}
	call(leader, req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*produceResponse)
		if resp != nil {
			op.attempt.answerEpoch = resp.leaderEpoch
		}
		if g != nil {
			g.answered(leader, err == nil && resp != nil && resp.errorCode == 0)
			defer g.wake()
		}
		switch {
		case errors.Is(err, errUnreachable):
			op.lastError = err.Error()
		case err != nil || resp == nil:
			op.ambiguous, op.lastError = true, errTimeout.Error()
		case resp.errorCode == 0:
			op.offset = resp.baseOffset
			op.appendTimeMs, op.appendTimeKnown = resp.logAppendTimeMs, true
			done(0)
			return
		default:
			op.lastError = codeName(resp.errorCode)
			if producerRefusal(resp.errorCode) || !retriableProduceError(resp.errorCode) {
				done(resp.errorCode)
				return
			}
			if !definiteProduceError(resp.errorCode) {
				op.ambiguous = true
			}
		}
		c.refreshMetadata()
		c.at(w.now+w.timing.retryBackoffMs, func() { c.producerSend(op, batch, tid, done) })
	})
}

// startIdempotentProducer runs an idempotent producer: acks=all, a value
// every meanMs on average.
func (c *client) startIdempotentProducer() {
	c.acks = -1
	c.prod = &producerState{pid: -1}
	c.refreshMetadata()
	c.at(c.w.now+expMs(c.w.rngWorkload, c.meanMs), c.idempotentNext)
}

// idempotentReady says whether an idempotent producer may send now: not
// once it sent its limit (it stops), nor while it has no producer id (it
// asks for one).
func (c *client) idempotentReady() bool {
	if c.limit > 0 && c.seq >= c.limit {
		c.stopped = true
		return false
	}
	if c.prod.pid < 0 {
		c.initProducer()
		return false
	}
	return true
}

// idempotentTarget is the partition of an idempotent producer's next send:
// its own, or one it picks; false when there is none to pick.
func (c *client) idempotentTarget() (*tpKey, bool) {
	if c.target != nil {
		return c.target, true
	}
	pick, ok := c.pickPartition()
	return &pick, ok
}

func (c *client) idempotentNext() {
	w, p := c.w, c.prod
	if c.stopped {
		return
	}
	c.at(w.now+1+expMs(w.rngWorkload, c.meanMs), c.idempotentNext)
	if p.pipeline > 1 {
		c.idempotentPipelined()
		return
	}
	if p.initing {
		return
	}
	if p.resend != nil {
		// A reset's value goes again first, under the new epoch or id.
		if p.pid < 0 {
			c.initProducer()
			return
		}
		c.sendResend()
		return
	}
	if c.busy || !c.idempotentReady() {
		return
	}
	tp, ok := c.idempotentTarget()
	if !ok {
		return
	}
	c.seq++
	op := w.hist.invokeSend(c.id, *tp, fmt.Sprintf("%s-%d", c.name(), c.seq), -1, w.now, w.now+w.timing.deliveryTimeoutMs)
	op.idempotent = true
	w.stats.Sends++
	c.busy = true
	c.sendIdempotent(op)
}

// sendResend sends the value a reset of an idempotent producer without a
// pipeline keeps, under the producer's new epoch or id.
func (c *client) sendResend() {
	op := c.prod.resend
	c.prod.resend = nil
	c.w.stats.IdempotentResets++
	c.w.stats.IdempotentValuesResent++
	c.sendIdempotent(op)
}

// sendIdempotent sends an idempotent producer's value (one a batch, one
// batch at a time) with its next sequence, until it has an outcome. A
// refusal for its producer (OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH: the leader's producer state
// went back) resets the producer as franz-go does
// (client_idempotent_pipeline.go): a new epoch or id, and the value sent
// again with sequence 0; an out-of-order refusal is sorted by why
// (out_of_order.go). Any other failure fails the value, and the next send
// asks for a new producer id.
func (c *client) sendIdempotent(op *sendOp) {
	w, p := c.w, c.prod
	seq, pid, epoch := p.seqs[op.tp], p.pid, p.epoch
	p.stateLossEra(op.tp, w)
	w.tracef("%s: send %s to %s (producer %d epoch %d sequence %d)", c.name(), op.value, op.tp, pid, epoch, seq)
	batch := buildProducerBatch([][]byte{c.recordKey(op)}, []string{op.value}, wallStartMs+w.now, pid, epoch, seq, false)
	c.producerSend(op, batch, "", func(code int16) {
		switch {
		case code == 0:
			if p.pid == pid && p.epoch == epoch {
				p.seqs[op.tp] = seq + 1
			}
			c.finishSend(op, outcomeOK)
			return
		case idempotentResetCode(code) && p.pid == pid && p.epoch == epoch:
			w.tracef("%s: producer %d epoch %d resets at %s (sequence %d): %s", c.name(), pid, epoch, op.value, seq, codeName(code))
			if code == kerr.OutOfOrderSequenceNumber.Code {
				w.countOutOfOrder(outOfOrderRefusal{c: c, pid: pid, epoch: epoch, tp: op.tp, era: p.eras[op.tp], first: op, seq: seq})
			}
			op.resentAfterUnknown = op.resentAfterUnknown || op.ambiguous
			op.resentAfterStateLoss = op.resentAfterStateLoss || p.eras[op.tp] != w.stateLossEra[op.tp]
			p.resend = op
			c.renewProducer()
			c.after(0, c.resendAfterReset)
			return
		case code == txnDeadlineCode:
			op.lastError = "delivery timeout: " + op.lastError
		}
		c.finishSend(op, outcomeFail)
		// A sequence refused, or one whose fate is unknown: the next send
		// starts afresh with a new producer id.
		p.pid = -1
	})
}

// startTxnProducer runs a transactional producer with transactional id
// tid: a transaction every meanMs on average.
func (c *client) startTxnProducer(tid string, timeoutMs int32, abortP float64, tv2 bool) {
	c.acks = -1
	c.prod = &producerState{tid: tid, timeoutMs: timeoutMs, pid: -1, abortP: abortP, tv2: tv2}
	c.refreshMetadata()
	c.at(c.w.now+expMs(c.w.rngWorkload, c.meanMs), c.txnTick)
}

func (c *client) txnTick() {
	w, p := c.w, c.prod
	if c.stopped {
		return
	}
	c.at(w.now+1+expMs(w.rngWorkload, c.meanMs), c.txnTick)
	if c.busy || p.initing {
		return
	}
	if p.pid < 0 {
		c.initProducer()
		return
	}
	var tps []tpKey
	for i, n := 0, 1+w.rngWorkload.IntN(3); i < n; i++ {
		if tp, ok := c.pickPartition(); ok && !slices.Contains(tps, tp) {
			tps = append(tps, tp)
		}
	}
	if len(tps) == 0 {
		return
	}
	op := c.newTxn(!chance(w.rngWorkload, p.abortP))
	if p.pipeline > 1 {
		c.addPipelinedWrites(op, tps)
		c.runTxn(op)
		return
	}
	for _, tp := range tps {
		for i, n := 0, 1+w.rngWorkload.IntN(2); i < n; i++ {
			c.addWrite(op, tp, fmt.Sprintf("%s-%d.%d", c.name(), op.seq, len(op.writes)))
		}
	}
	c.runTxn(op)
}

// newTxn opens a transaction in the history (the client is busy until it
// ends).
func (c *client) newTxn(commit bool) *txnOp {
	w, p := c.w, c.prod
	p.txns++
	op := &txnOp{process: c.id, tid: p.tid, seq: p.txns, pid: p.pid, epoch: p.epoch, commit: commit, invokeMs: w.now,
		deadline: w.now + int64(p.timeoutMs), offsets: -1}
	w.txn.txns = append(w.txn.txns, op)
	w.stats.Transactions++
	p.cur = op
	c.busy = true
	return op
}

// addWrite adds a value to send to tp in the transaction.
func (c *client) addWrite(op *txnOp, tp tpKey, value string) *sendOp {
	if !slices.Contains(op.partitions, tp) {
		op.partitions = append(op.partitions, tp)
	}
	s := &sendOp{process: c.id, tp: tp, value: value, acks: -1, invokeMs: c.w.now, offset: -1, deadline: op.deadline,
		recreatedEra: c.w.recreatedEra(tp)}
	op.writes = append(op.writes, s)
	return s
}

// runTxn runs a transaction to its end: its partitions added, its values
// sent, a copier's offsets committed in it, then EndTxn.
func (c *client) runTxn(op *txnOp) {
	w := c.w
	w.stats.Sends += int64(len(op.writes))
	w.timelinef("txn: %s (%s) begins transaction %d on %s (producer %d, epoch %d)", c.name(), op.tid, op.seq, tpList(op.partitions), op.pid, op.epoch)
	send := func(then func()) { c.txnSendFrom(op, 0, then) }
	if op.batches != nil {
		send = func(then func()) { c.txnSendPipelined(op, then) }
	}
	c.txnAddPartitions(op, op.partitions, func() {
		send(func() {
			c.txnCommitOffsets(op, func() { c.endTxn(op) })
		})
	})
}

func tpList(tps []tpKey) string {
	if len(tps) == 0 {
		return "no partitions"
	}
	s := make([]string, len(tps))
	for i, tp := range tps {
		s[i] = tp.String()
	}
	return strings.Join(s, " ")
}

// txnCall sends a transaction request (built afresh by mk for each
// attempt) to the node to() names, retrying what asks to be retried until
// deadline; done gets 0, the code that ended it, or txnDeadlineCode.
func (c *client) txnCall(op *txnOp, deadline int64, to func() int32, mk func() kmsg.Request, code func(kmsg.Response) int16, done func(int16)) {
	w := c.w
	req := mk()
	name := kmsg.NameForKey(req.Key())
	if r, ok := req.(*kmsg.EndTxnRequest); ok {
		name += map[bool]string{true: "(commit)", false: "(abort)"}[r.Commit]
	}
	if w.now >= deadline {
		op.lastError = name + ": deadline passed"
		if op.retryError != "" {
			op.lastError += " (last: " + op.retryError + ")"
		}
		done(txnDeadlineCode)
		return
	}
	retry := func() {
		c.at(w.now+w.timing.retryBackoffMs, func() { c.txnCall(op, deadline, to, mk, code, done) })
	}
	dst := to()
	if dst < 0 {
		retry()
		return
	}
	c.call(dst, &txnEnvelope{body: req}, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(kmsg.Response)
		k, why := kerr.RequestTimedOut.Code, ""
		switch {
		case err != nil:
			why = err.Error()
		case resp == nil:
			why = "no answer"
		default:
			k = code(resp)
			why = codeName(k)
		}
		if k != 0 && retriableTxnCode(k) {
			op.retryError = why
			c.refreshMetadata()
			retry()
			return
		}
		if k != 0 {
			op.lastError = name + ": " + why
		}
		done(k)
	})
}

// txnAddPartitions adds partitions to the transaction (AddPartitionsToTxn
// v3); a KIP-890 part 2 producer sends none: its produces add them.
func (c *client) txnAddPartitions(op *txnOp, tps []tpKey, then func()) {
	if len(tps) == 0 || c.prod.tv2 {
		then()
		return
	}
	tps = slices.Clone(tps)
	slices.SortFunc(tps, compareKeys)
	mk := func() kmsg.Request {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, op.tid, op.pid, op.epoch
		for _, tp := range tps {
			if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.topic {
				req.Topics = append(req.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: tp.topic})
			}
			t := &req.Topics[len(req.Topics)-1]
			t.Partitions = append(t.Partitions, tp.partition)
		}
		return req
	}
	code := func(resp kmsg.Response) int16 {
		r, _ := resp.(*kmsg.AddPartitionsToTxnResponse)
		if r == nil {
			return kerr.UnknownServerError.Code
		}
		worst := int16(0)
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 && (worst == 0 || worst == kerr.OperationNotAttempted.Code) {
					worst = p.ErrorCode
				}
			}
		}
		return worst
	}
	c.txnCall(op, op.deadline, c.txnCoordinator, mk, code, func(k int16) {
		if k != 0 {
			c.txnFailed(op, k)
			return
		}
		then()
	})
}

// txnSendFrom sends the transaction's writes from the i-th on: the writes
// to one partition that follow each other go in one batch, and batch after
// batch.
func (c *client) txnSendFrom(op *txnOp, i int, then func()) {
	w, p := c.w, c.prod
	if i >= len(op.writes) {
		then()
		return
	}
	s, j := op.writes[i], i+1
	for j < len(op.writes) && op.writes[j].tp == s.tp {
		j++
	}
	group := op.writes[i:j]
	values, keys := make([]string, len(group)), make([][]byte, len(group))
	t, known := c.meta.topics[s.tp.topic]
	for k, wr := range group {
		values[k] = wr.value
		if known && t.compacted {
			// A compacted topic takes keyed records only.
			keys[k] = []byte(fmt.Sprintf("k%d", (op.seq+i+k)%compactedKeys))
		}
	}
	seq := p.seqs[s.tp]
	w.tracef("%s: send %s to %s in transaction %d (producer %d epoch %d sequence %d)", c.name(), strings.Join(values, " "), s.tp, op.seq, op.pid, op.epoch, seq)
	batch := buildProducerBatch(keys, values, wallStartMs+w.now, op.pid, op.epoch, seq, true)
	c.producerSend(s, batch, op.tid, func(code int16) {
		settleTxnWrites(group, code, w.now)
		if code != 0 {
			op.lastError = fmt.Sprintf("send %s: %s", s.value, codeName(code))
			if code == txnDeadlineCode && s.lastError != "" {
				op.lastError += " (last: " + s.lastError + ")"
			}
			c.txnFailed(op, code)
			return
		}
		if p.pid == op.pid && p.epoch == op.epoch {
			p.seqs[s.tp] = seq + int32(len(group))
		}
		w.stats.SendsOK += int64(len(group))
		c.txnSendFrom(op, j, then)
	})
}

// txnCommitOffsets commits a copier's next position in the transaction:
// AddOffsetsToTxn, then TxnOffsetCommit v3 to the group's coordinator; a
// KIP-890 part 2 copier sends TxnOffsetCommit v5 alone (its group's
// partition adds itself).
func (c *client) txnCommitOffsets(op *txnOp, then func()) {
	if op.group == "" {
		then()
		return
	}
	tv2 := c.prod.tv2
	mkAdd := func() kmsg.Request {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = 3, op.tid, op.pid, op.epoch, op.group
		return req
	}
	addCode := func(resp kmsg.Response) int16 {
		if r, ok := resp.(*kmsg.AddOffsetsToTxnResponse); ok {
			return r.ErrorCode
		}
		return kerr.UnknownServerError.Code
	}
	mkCommit := func() kmsg.Request {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = 3, op.tid, op.group, op.pid, op.epoch
		if tv2 {
			req.Version = 5
		}
		req.Generation, req.MemberID = -1, ""
		t := kmsg.NewTxnOffsetCommitRequestTopic()
		t.Topic = op.source.topic
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = op.source.partition, op.offsets, -1
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		return req
	}
	commitCode := func(resp kmsg.Response) int16 {
		r, ok := resp.(*kmsg.TxnOffsetCommitResponse)
		if !ok || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return kerr.UnknownServerError.Code
		}
		return r.Topics[0].Partitions[0].ErrorCode
	}
	commit := func() {
		c.txnCall(op, op.deadline, func() int32 { return c.groupCoordinatorOf(op.group) }, mkCommit, commitCode, func(k int16) {
			if k != 0 {
				c.txnFailed(op, k)
				return
			}
			then()
		})
	}
	if tv2 {
		commit()
		return
	}
	c.txnCall(op, op.deadline, c.txnCoordinator, mkAdd, addCode, func(k int16) {
		if k != 0 {
			c.txnFailed(op, k)
			return
		}
		commit()
	})
}

// txnFailed ends a transaction a request failed in: fenced, it is over
// (the coordinator aborts it, unless the client had asked to commit);
// otherwise the client aborts it.
func (c *client) txnFailed(op *txnOp, code int16) {
	if fencedCode(code) {
		op.fenced = true
		o := outcomeFail
		if op.endSent && op.commit {
			o = outcomeInfo
		}
		c.finishTxn(op, o)
		return
	}
	op.commit = false
	c.endTxn(op)
}

// endTxn ends the transaction (EndTxn v4: commit or abort as the client
// intends; v5 for a KIP-890 part 2 producer, which takes the epoch or
// producer id the answer gives for its next transaction), retrying until
// 20 s after its first attempt.
func (c *client) endTxn(op *txnOp) {
	w, p := c.w, c.prod
	if !op.endSent {
		op.endSent, op.endUntil = true, w.now+20_000
	}
	tv2 := p.tv2
	mk := func() kmsg.Request {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = 4, op.tid, op.pid, op.epoch, op.commit
		if tv2 {
			req.Version = 5
		}
		return req
	}
	var ended *kmsg.EndTxnResponse
	code := func(resp kmsg.Response) int16 {
		if r, ok := resp.(*kmsg.EndTxnResponse); ok {
			ended = r
			return r.ErrorCode
		}
		return kerr.UnknownServerError.Code
	}
	c.txnCall(op, op.endUntil, c.txnCoordinator, mk, code, func(k int16) {
		if k == 0 && tv2 && ended != nil && p.pid == op.pid && p.epoch == op.epoch && ended.ProducerID >= 0 {
			p.pid, p.epoch, p.seqs = ended.ProducerID, ended.ProducerEpoch, map[tpKey]int32{}
			w.tracef("%s: producer id %d epoch %d for %s after transaction %d", c.name(), p.pid, p.epoch, p.tid, op.seq)
		}
		switch {
		case k == 0 && op.commit:
			c.finishTxn(op, outcomeOK)
		case k == 0 || !op.commit:
			// The client never asked to commit: whatever the answer, the
			// coordinator aborts the transaction (now, or at its
			// timeout, or when the next InitProducerId fences it).
			op.fenced = op.fenced || fencedCode(k)
			c.finishTxn(op, outcomeFail)
		default:
			op.fenced = fencedCode(k)
			c.finishTxn(op, outcomeInfo)
		}
	})
}

// finishTxn records a transaction's outcome; one that did not end cleanly
// costs the producer its epoch.
func (c *client) finishTxn(op *txnOp, o outcome) {
	w, p := c.w, c.prod
	if op.outcome != pending {
		// The client's own bookkeeping broke: a transaction it ended
		// twice let it run two at once on one producer id and epoch.
		w.violation("H5", fmt.Sprintf("%s (%s) ended transaction %d twice: %s, then %s", c.name(), op.tid, op.seq, op.outcome, o))
		return
	}
	op.outcome, op.doneMs = o, w.now
	if p.cur == op {
		p.cur = nil
	}
	c.busy = false
	if op.lastError != "" && p.pid == op.pid && p.epoch == op.epoch {
		p.pid = -1
	}
	switch o {
	case outcomeOK:
		w.stats.TxnCommits++
	case outcomeFail:
		w.stats.TxnAborts++
	default:
		w.stats.TxnUnknown++
	}
	who := fmt.Sprintf("txn: %s (%s)", c.name(), op.tid)
	switch {
	case o == outcomeOK:
		w.stats.SendsAcksAllOK += int64(len(op.writes))
		w.timelinef("%s commits transaction %d", who, op.seq)
	case op.fenced:
		w.timelinef("%s is fenced (%s): transaction %d %s", who, op.lastError, op.seq,
			map[outcome]string{outcomeFail: "aborted", outcomeInfo: "may have committed"}[o])
	case o == outcomeFail && op.lastError == "":
		w.timelinef("%s aborts transaction %d", who, op.seq)
	case o == outcomeFail:
		w.timelinef("%s aborts transaction %d (%s)", who, op.seq, op.lastError)
	default:
		w.timelinef("%s does not know whether transaction %d committed (%s)", who, op.seq, op.lastError)
	}
	if cp := p.copier; cp != nil {
		if o == outcomeOK {
			cp.position = op.offsets
		} else {
			cp.position = -1
		}
	}
}

// startCopier runs a copier: group group, input src, output topic out.
func (c *client) startCopier(tid, group string, src tpKey, out string, timeoutMs int32, abortP float64, tv2 bool) {
	c.acks, c.readCommitted = -1, true
	c.prod = &producerState{tid: tid, timeoutMs: timeoutMs, pid: -1, abortP: abortP, tv2: tv2,
		copier: &copierState{group: group, src: src, out: out, position: -1}}
	c.refreshMetadata()
	c.at(c.w.now+copierTickMs, c.copierTick)
}

// copierTickMs is how often a copier that is not busy polls its input.
const copierTickMs = 200

func (c *client) copierTick() {
	w, p := c.w, c.prod
	cp := p.copier
	if c.stopped {
		return
	}
	c.at(w.now+copierTickMs, c.copierTick)
	if w.now-c.meta.lastMs > 2000 {
		c.refreshMetadata()
	}
	switch {
	case c.busy || p.initing || cp.fetching || cp.polling:
	case p.pid < 0:
		c.initProducer()
	case cp.position < 0:
		c.copierFetchPosition()
	default:
		c.copierPoll()
	}
}

// copierFetchPosition reads the group's committed offset of the input
// (require_stable: an offset pending in a transaction is asked again).
func (c *client) copierFetchPosition() {
	w, cp := c.w, c.prod.copier
	coord := c.groupCoordinatorOf(cp.group)
	if coord < 0 {
		return
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, cp.group, true
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: cp.src.topic, Partitions: []int32{cp.src.partition}}}
	cp.fetching = true
	c.call(coord, req, w.timing.requestTimeoutMs, func(body any, err error) {
		cp.fetching = false
		resp, _ := body.(*kmsg.OffsetFetchResponse)
		if err != nil || resp == nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refreshMetadata()
			return
		}
		if rp := resp.Topics[0].Partitions[0]; rp.ErrorCode == 0 {
			cp.position = max(rp.Offset, 0)
			w.tracef("%s: copier of %s starts at %d (group %s)", c.name(), cp.src, cp.position, cp.group)
		}
	})
}

// copierPoll reads the input from the copier's position with
// read_committed, and copies what it read in a transaction.
func (c *client) copierPoll() {
	w, cp := c.w, c.prod.copier
	leader, epoch := c.leader(cp.src)
	out, ok := c.meta.topics[cp.out]
	if leader < 0 || !ok || len(out.partitions) == 0 {
		c.refreshMetadata()
		return
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.IsolationLevel = 200, 1, copierFetchBytes, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = cp.src.topic
	rp := kmsg.NewFetchRequestTopicPartition()
	position := cp.position
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = cp.src.partition, position, epoch, copierFetchBytes
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	cp.polling = true
	c.call(leader, req, w.timing.requestTimeoutMs, func(body any, err error) {
		cp.polling = false
		resp, _ := body.(*kmsg.FetchResponse)
		if err != nil || resp == nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || c.stopped || cp.position != position {
			c.refreshMetadata()
			return
		}
		fp := &resp.Topics[0].Partitions[0]
		switch fp.ErrorCode {
		case 0:
		case kerr.OffsetOutOfRange.Code:
			// Records below the log start are gone: the copier goes on
			// from it. A position past the log end is kept (the answer
			// may come from a deposed leader that lags): resetting it
			// would copy again what was copied.
			if fp.LogStartOffset > position {
				cp.position = fp.LogStartOffset
				w.tracef("%s: copier of %s: position %d below the log start, from %d", c.name(), cp.src, position, cp.position)
			}
			c.refreshMetadata()
			return
		default:
			c.refreshMetadata()
			return
		}
		recs, next, err := decodeRecords(fp.RecordBatches, fp.AbortedTransactions, true)
		if err != nil {
			w.violation("Q1", fmt.Sprintf("%s: %s: records from offset %d do not decode: %v", c.name(), cp.src, position, err))
			return
		}
		// The records the transaction covers: from the position to the
		// copyBatch-th record delivered.
		var kept []readRecord
		data := 0
		for _, r := range recs {
			if r.offset < position {
				continue
			}
			if data == copyBatch {
				break
			}
			kept = append(kept, r)
			if r.kind == recData {
				data++
			}
		}
		if len(kept) == 0 {
			if next > position {
				cp.position = next // only batches compaction emptied
			}
			return
		}
		pl := w.hist.poll(c.id, cp.src, position, kept, w.now, false)
		pl.committed = true
		w.stats.Polls++
		w.stats.RecordsRead += int64(len(kept))
		c.copy(kept, len(out.partitions))
	})
}

// A copier reads up to copierFetchBytes of its input a poll, and copies
// up to copyBatch records a transaction.
const (
	copierFetchBytes = 8 << 10
	copyBatch        = 10
)

// copy runs the transaction that copies the records read (and moves the
// group's offset past them).
func (c *client) copy(recs []readRecord, outPartitions int) {
	w, cp := c.w, c.prod.copier
	op := c.newTxn(!chance(w.rngWorkload, c.prod.abortP))
	op.group, op.source = cp.group, cp.src
	to := tpKey{cp.out, cp.src.partition % int32(outPartitions)}
	for _, r := range recs {
		op.offsets = r.offset + 1
		if r.kind != recData {
			continue
		}
		c.addWrite(op, to, fmt.Sprintf("%s.%d:%s@%d", c.name(), op.seq, cp.src, r.offset))
		op.sources = append(op.sources, txnSource{cp.src, r.offset})
	}
	c.runTxn(op)
}

// startTxnWorkload adds the profile's idempotent and transactional
// clients, and the topics they need: __transaction_state (compacted, and
// replicated as Kafka's defaults: min.insync.replicas 2), and for copiers
// __consumer_offsets (compacted) and their output topic.
func (w *World) startTxnWorkload(admin *client) {
	p := w.profile
	rf := int16(min(3, len(w.nodes)))
	pending := func(name string) bool {
		return slices.ContainsFunc(admin.pendingTopics, func(t topicSpec) bool { return t.name == name })
	}
	if p.TxnProducers > 0 || p.Copiers > 0 {
		admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: txn.StateTopic, partitions: txnStatePartitions, rf: rf, minISR: min(2, int(rf)), compacted: true})
	}
	if p.Copiers > 0 {
		if !pending(groups.OffsetsTopic) {
			admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: groups.OffsetsTopic, partitions: offsetsPartitions, rf: rf, minISR: p.MinISR, compacted: true})
		}
		admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: copyTopic, partitions: 1, rf: rf, minISR: p.MinISR})
	}
	if p.TxnProducers > 0 || p.Copiers > 0 {
		w.abortHanging(admin)
	}
	timeout := int32(max(p.TxnTimeoutMs, 1000))
	for i := 0; i < p.IdempotentProducers; i++ {
		c := w.newClient(producerClient)
		c.meanMs = p.ProduceEveryMs
		c.startIdempotentProducer()
		c.prod.pipeline = p.IdempotentPipeline
	}
	for i := 0; i < p.TxnProducers; i++ {
		c := w.newClient(producerClient)
		c.meanMs = max(4*p.ProduceEveryMs, 200)
		c.startTxnProducer(fmt.Sprintf("tx%d", i), timeout, p.TxnAbortP, p.txnV2(i))
		c.prod.pipeline = p.TxnPipeline
	}
	for i := 0; i < p.Copiers; i++ {
		c := w.newClient(producerClient)
		src := tpKey{"t0", int32(i % max(p.Partitions, 1))}
		c.startCopier(fmt.Sprintf("copy%d", i), fmt.Sprintf("copy%d", i), src, copyTopic, timeout, p.TxnAbortP, p.txnV2(i+1))
	}
}

// copyTopic is the copiers' output topic.
const copyTopic = "cp"

// buildProducerBatch encodes a RecordBatch v2 of records holding values
// (with keys, nil for none) from producer id pid at epoch, its first
// sequence seq, transactional or not, as an idempotent producer does.
func buildProducerBatch(keys [][]byte, values []string, timestampMs, pid int64, epoch int16, seq int32, transactional bool) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Key: keys[i], Value: []byte(v)}
		enc := r.AppendTo(nil)
		r.Length = int32(len(enc) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: timestampMs, MaxTimestamp: timestampMs, LastOffsetDelta: int32(len(values) - 1),
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs,
	}
	if transactional {
		b.Attributes |= 0x10
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	logstore.ChecksumBatch(raw)
	return raw
}

// settleTxnWrites gives the writes of one transactional batch, sent as its
// first write, their outcome at nowMs: ok at consecutive offsets, or, when
// refused (code not 0), failed unless an attempt may have been appended
// (ambiguous) or the transaction's deadline cut it (info).
func settleTxnWrites(writes []*sendOp, code int16, nowMs int64) {
	s := writes[0]
	for k, wr := range writes {
		wr.doneMs, wr.ambiguous, wr.attempts = nowMs, s.ambiguous, s.attempts
		if code == 0 {
			wr.outcome, wr.offset = outcomeOK, s.offset+int64(k)
			continue
		}
		wr.outcome, wr.offset = outcomeInfo, -1
		if !s.ambiguous && code != txnDeadlineCode {
			wr.outcome = outcomeFail
		}
	}
}

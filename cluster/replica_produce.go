package cluster

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

type pendingProduce struct {
	id           RequestID
	acks         int16
	deadlineMs   int64 // monotonic
	appendTimeMs int64
	baseOffset   int64
	nextOffset   int64
	// orphaned says the produce was answered when the replica stopped
	// leading during its append: the completion only moves the log end
	// offset.
	orphaned bool
	// producer is the batch's producer, when hasProducer: an idempotent
	// or transactional batch (a value, not a pointer: one allocation
	// fewer per produce).
	producer    logstore.ProducerBatchInfo
	hasProducer bool
	// precluded says an earlier batch of the producer failed while this
	// one was being appended (replica_group_commit.go).
	precluded bool
}

// ProduceRequest is one partition of a Produce request.
type ProduceRequest struct {
	// Records holds the partition's record batch.
	Records []byte
	// Acks is 0 (no answer), 1 (after the leader's append) or -1 (all:
	// after the high watermark passed the batch).
	Acks int16
	// TimeoutMs bounds how long acks=all waits for the high watermark.
	TimeoutMs int32
	// Marker, when set, is a transaction marker to write instead of
	// Records (WriteTxnMarkers); it is answered as acks=all.
	Marker *TxnMarker
	// TransactionalID is the Produce request's transactional id: a
	// transactional batch with one is verified with its coordinator when
	// the partition does not know its transaction (replica_txn_verify.go).
	TransactionalID string
	// TxnOperation says whether the request lets the partition add itself
	// to a transaction it does not know (KIP-890 part 2: Produce v12+,
	// TxnOffsetCommit v5+) or only verify it is in it.
	TxnOperation TxnOperation
}

// Produce validates the records of one partition of a Produce request (one
// RecordBatch v2, as Kafka requires from Produce v3 on) at time now and asks
// for the append, or replies with the error: NOT_LEADER_OR_FOLLOWER on a
// follower, NOT_ENOUGH_REPLICAS for acks=all while the ISR is smaller than
// min.insync.replicas. An acks=0 produce is never answered.
func (r *Replica) Produce(id RequestID, req ProduceRequest, now Instant) {
	r.produce(id, req, now, false)
}

// produce is Produce; verified says the coordinator verified the batch's
// transaction (TxnVerified).
func (r *Replica) produce(id RequestID, req ProduceRequest, now Instant, verified bool) {
	r.observe(now)
	if req.Marker != nil {
		// Even a marker refused below: what the partition knew of the
		// producer's transaction may be out of date.
		r.txnMarkerStarted(*req.Marker)
	}
	reply := func(code int16, format string, args ...any) {
		if req.Acks == 0 {
			return
		}
		r.ready.ProduceReplies = append(r.ready.ProduceReplies, ProduceReply{ID: id, ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...),
			BaseOffset: -1, LogAppendTimeMs: -1, LogStartOffset: -1, CurrentLeader: r.leaderHint(code)})
	}
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		reply(kerr.InvalidRequiredAcks.Code, "acks must be 0, 1 or -1, got %d", req.Acks)
		return
	}
	if r.leader == nil || r.leader.epochStartPending {
		reply(kerr.NotLeaderForPartition.Code, "broker %d does not lead the partition (leader %d, leader epoch %d)", r.opts.NodeID, r.partition.Leader, r.partition.LeaderEpoch)
		return
	}
	// The committed ISR against min.insync.replicas itself, not bounded by
	// the replication factor: a single replica with min.insync.replicas=2
	// refuses acks=all, as it always did.
	if isr := len(r.partition.ISR); req.Acks == -1 && isr < r.cfg.MinInsyncReplicas {
		reply(kerr.NotEnoughReplicas.Code, "%d in-sync replicas, min.insync.replicas is %d", isr, r.cfg.MinInsyncReplicas)
		return
	}
	if req.Marker != nil {
		r.writeTxnMarker(id, *req.Marker, now, reply)
		return
	}
	batch, code, msg, recordErrors := r.validateBatch(req.Records, now.WallMs)
	if code != 0 {
		reply(code, "%s", msg)
		if n := len(r.ready.ProduceReplies); req.Acks != 0 && n > 0 {
			r.ready.ProduceReplies[n-1].RecordErrors = recordErrors
		}
		return
	}
	if info := logstore.ReadProducerBatchInfo(batch); !verified && r.needsTxnVerification(req, info) {
		r.awaitTxnVerification(id, req, info, now.WallMs)
		return
	}
	p := pendingProduce{id: id, acks: req.Acks, deadlineMs: now.MonoMs + int64(max(req.TimeoutMs, 0)), appendTimeMs: -1}
	if r.cfg.TimestampType == LogAppendTime {
		// Before the producer state reads the batch's time: it keeps what
		// the log will hold.
		logstore.SetBatchLogAppendTime(batch, now.WallMs)
		p.appendTimeMs = now.WallMs
	}
	if info := logstore.ReadProducerBatchInfo(batch); info.ProducerID != logstore.NoProducerID && info.BaseSequence >= 0 {
		check := r.checkProducer(info)
		switch {
		case check.code != 0:
			reply(check.code, "%s", check.msg)
			return
		case check.duplicate != nil:
			if r.cfg.TimestampType == LogAppendTime {
				p.appendTimeMs = check.duplicate.MaxTimestampMs
			}
			r.answerDuplicate(p, *check.duplicate)
			return
		}
		p.producer, p.hasProducer = info, true
		r.producerAppendStarted(info)
	} else if info.ProducerID != logstore.NoProducerID && info.Transactional {
		// No sequence (a coordinator's): the transaction is tracked all
		// the same.
		p.producer, p.hasProducer = info, true
		r.producerAppendStarted(info)
	}
	r.appending[id] = p
	r.ready.Appends = append(r.ready.Appends, AppendBatches{ID: id, Batches: r.oneBatch(batch), LeaderEpoch: r.partition.LeaderEpoch, NowMs: now.WallMs})
}

// validateBatch checks the produce records as Kafka's log validator does and
// returns the one batch, or a kerr code and message (and the refused records,
// for a per-record refusal).
func (r *Replica) validateBatch(records []byte, nowMs int64) ([]byte, int16, string, []logstore.RecordError) {
	if len(records) == 0 {
		return nil, kerr.InvalidRecord.Code, "produce request has no record batch for the partition", nil
	}
	if len(records) > 16 && records[16] != 2 {
		return nil, kerr.UnsupportedForMessageFormat.Code, fmt.Sprintf("record batch magic %d: only magic 2 (Kafka 0.11+) is accepted", int8(records[16])), nil
	}
	size, err := logstore.BatchSize(records)
	if err != nil {
		return nil, kerr.CorruptMessage.Code, err.Error(), nil
	}
	if size > len(records) {
		return nil, kerr.CorruptMessage.Code, fmt.Sprintf("record batch length field says %d bytes, the request holds %d", size, len(records)), nil
	}
	if size != len(records) {
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("produce requests must hold exactly one record batch per partition; the first is %d of %d bytes", size, len(records)), nil
	}
	if size > int(r.cfg.MaxMessageBytes) {
		return nil, kerr.MessageTooLarge.Code, fmt.Sprintf("record batch of %d bytes is larger than max.message.bytes %d", size, r.cfg.MaxMessageBytes), nil
	}
	b, err := logstore.ParseBatch(records)
	if err != nil {
		return nil, kerr.CorruptMessage.Code, err.Error(), nil
	}
	switch {
	case b.FirstOffset != 0:
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("record batch base offset %d: a producer must send 0", b.FirstOffset), nil
	case b.NumRecords <= 0 || int64(b.NumRecords) != int64(b.LastOffsetDelta)+1:
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("record batch holds %d records but its last offset delta is %d", b.NumRecords, b.LastOffsetDelta), nil
	case b.Attributes&0x20 != 0:
		return nil, kerr.InvalidRecord.Code, "a producer may not send control batches", nil
	case b.Attributes&0x10 != 0 && b.ProducerID < 0:
		// A group coordinator's batch of offsets committed in a
		// transaction (TxnOffsetCommit) has no sequence, as Kafka's.
		return nil, kerr.InvalidRecord.Code, "a transactional batch needs a producer id", nil
	case b.Attributes&0x07 > 4:
		return nil, kerr.CorruptMessage.Code, fmt.Sprintf("unknown compression codec %d", b.Attributes&0x07), nil
	}
	// Each record's timestamp is checked against the topic's bounds, not
	// the batch header's, which the producer wrote: under CreateTime the
	// batch keeps its records' largest timestamp (the time index and
	// retention read it), as Kafka's LogValidator does.
	maxTs, err := r.codecs().ValidateRecords(&b, r.recordRules(nowMs))
	if err != nil {
		return nil, recordsErrorCode(err), err.Error(), recordErrorsOf(err)
	}
	if r.cfg.TimestampType == CreateTime {
		logstore.SetBatchCreateTime(records, maxTs)
	}
	if r.cfg.Recompress && int8(b.Attributes&0x07) != r.cfg.Codec {
		out, err := r.codecs().Recompress(records, r.cfg.Codec, r.cfg.CodecLevel)
		if err != nil {
			return nil, kerr.CorruptMessage.Code, err.Error(), nil
		}
		// As Kafka: the batch as stored must fit max.message.bytes.
		if len(out) > int(r.cfg.MaxMessageBytes) {
			return nil, kerr.MessageTooLarge.Code, fmt.Sprintf("record batch of %d bytes recompressed to %d bytes (compression.type %s) is larger than max.message.bytes %d",
				len(records), len(out), codecName(r.cfg.Codec), r.cfg.MaxMessageBytes), nil
		}
		records = out
	}
	return records, 0, "", nil
}

// codecName is compression.type's name of a record batch codec.
func codecName(codec int8) string {
	for name, c := range storedCodecs {
		if c == codec {
			return name
		}
	}
	return fmt.Sprintf("codec %d", codec)
}

// AppendCompleted reports the outcome of an AppendBatches, or an error (then
// nothing was appended).
func (r *Replica) AppendCompleted(id RequestID, out AppendOutcome, err error) {
	p, ok := r.appending[id]
	if !ok {
		panic(fmt.Sprintf("replica: append completion for unknown request %d", id))
	}
	delete(r.appending, id)
	if p.hasProducer {
		r.producerAppendDone(p.producer, out.BaseOffset, err == nil)
	}
	if err != nil {
		if p.hasProducer {
			r.precludeFollowers(p.producer)
		}
		code := r.appendErrorCode(err)
		if !p.orphaned {
			r.reply(p, code, err.Error())
		}
		r.step()
		return
	}
	if out.LogEndOffset < r.state.LogEndOffset || out.BaseOffset < r.state.LogEndOffset || out.BaseOffset >= out.LogEndOffset {
		panic(fmt.Sprintf("replica: append at %d to log end offset %d, the log ended at %d", out.BaseOffset, out.LogEndOffset, r.state.LogEndOffset))
	}
	r.state.LogEndOffset = out.LogEndOffset
	p.baseOffset, p.nextOffset = out.BaseOffset, out.LogEndOffset
	switch {
	case p.orphaned, p.acks == 0:
	case p.acks == 1:
		r.reply(p, 0, "")
	default:
		r.awaitingHW = append(r.awaitingHW, p)
	}
	if r.cfg.DurableHighWatermark && out.FlushedOffset < out.LogEndOffset && r.leader != nil {
		r.ready.AwaitDurable = append(r.ready.AwaitDurable, out.LogEndOffset)
	}
	r.Flushed(out.FlushedOffset)
	r.advanceHighWatermark()
	r.step()
}

// Flushed reports that every record below offset is durable (an fsync by the
// group committer, flush.messages or flush.ms).
func (r *Replica) Flushed(offset int64) {
	if offset > r.state.LogEndOffset {
		panic(fmt.Sprintf("replica: flushed offset %d past the log end offset %d", offset, r.state.LogEndOffset))
	}
	if offset > r.state.FlushedOffset {
		r.state.FlushedOffset = offset
		r.advanceHighWatermark()
	}
}

// advanceHighWatermark moves a leader's high watermark up to the minimum log
// end offset over the ISR (see highWatermarkCandidate), answers the acks=all
// produces it passed (NOT_ENOUGH_REPLICAS_AFTER_APPEND should the ISR they
// waited for be below min.insync.replicas then, as Kafka's
// checkEnoughReplicasReachOffset) and wakes the watches that can read. It
// wakes the watches of followers too, whose bound is the log end offset.
func (r *Replica) advanceHighWatermark() {
	advanced := false
	if r.leader != nil {
		if hw := r.highWatermarkCandidate(); hw > r.highWatermark {
			r.highWatermark = hw
			advanced = true
			r.pruneUnreplicatedTxns()
			r.answerAwaitingHW()
		}
		if len(r.awaitingHW) > 0 && len(r.maximalISR()) < r.effectiveMinISR() {
			r.answerBelowMinISR()
		}
		r.answerDeleteWaits(r.nowMs)
	}
	// Only followers read past the high watermark: without their watches,
	// nothing new is readable unless it moved. Completions reported
	// together wake once, after the last (AppendsCompleted).
	if (advanced || r.followerWatches > 0) && !r.wakeDeferred {
		r.wakeReadable()
	}
}

func (r *Replica) answerAwaitingHW() {
	done := 0
	for _, p := range r.awaitingHW {
		if p.nextOffset > r.highWatermark {
			break
		}
		if n := len(r.maximalISR()); n < r.effectiveMinISR() {
			r.reply(p, kerr.NotEnoughReplicasAfterAppend.Code, fmt.Sprintf("appended, but %d in-sync replicas is below min.insync.replicas %d", n, r.cfg.MinInsyncReplicas))
		} else {
			r.reply(p, 0, "")
		}
		done++
	}
	r.awaitingHW = dropAnswered(r.awaitingHW, done)
}

// answerBelowMinISR answers every acks=all produce still waiting for the
// high watermark NOT_ENOUGH_REPLICAS_AFTER_APPEND once the ISR is below
// min.insync.replicas: the high watermark does not move until it grows
// again (KIP-966), which may take long (a follower whose disk is full,
// offline), and a client told at once retries on its own backoff (an
// idempotent one without duplicates) instead of waiting out its request
// timeout for REQUEST_TIMED_OUT. Kafka before KIP-966 answered so as soon
// as the high watermark passed the batch with the ISR shrunk; appended,
// the records may still be replicated and committed later, as after any
// unanswered produce.
func (r *Replica) answerBelowMinISR() {
	n := len(r.maximalISR())
	for _, p := range r.awaitingHW {
		r.reply(p, kerr.NotEnoughReplicasAfterAppend.Code, fmt.Sprintf("appended, but %d in-sync replicas is below min.insync.replicas %d", n, r.cfg.MinInsyncReplicas))
	}
	r.awaitingHW = dropAnswered(r.awaitingHW, len(r.awaitingHW))
}

// dropAnswered takes the first done produces off q, keeping its array:
// sliced off the front instead, the queue's capacity would shrink with
// every answer, and each acks=all produce would allocate a new array.
func dropAnswered(q []pendingProduce, done int) []pendingProduce {
	if done == 0 {
		return q
	}
	n := copy(q, q[done:])
	clear(q[n:])
	return q[:n]
}

// wakeReadable wakes the watches whose fetches can now read something.
// The list is detached before any watch wakes: waking a follower's watch
// runs its fetch, which may move the high watermark and come back here, or
// park a new watch; each watch must wake once.
func (r *Replica) wakeReadable() {
	if len(r.watches) == 0 {
		return
	}
	pending := r.watches
	r.watches = nil
	for _, w := range pending {
		r.countWatch(w, -1)
	}
	// The watches kept go back into pending's array: each is written at
	// or before the one being read.
	kept := pending[:0]
	for _, w := range pending {
		if r.readableFor(w.Partition, w.Isolation) > w.wakesAbove() {
			r.wake(w)
		} else {
			kept = append(kept, w)
			r.countWatch(w, 1)
		}
	}
	r.watches = append(kept, r.watches...)
}

func (r *Replica) reply(p pendingProduce, code int16, msg string) {
	if p.acks == 0 {
		return
	}
	rep := ProduceReply{ID: p.id, ErrorCode: code, ErrorMessage: msg, BaseOffset: -1, LogAppendTimeMs: -1, LogStartOffset: r.state.LogStartOffset,
		CurrentLeader: r.leaderHint(code)}
	if code == 0 {
		rep.BaseOffset, rep.LogAppendTimeMs = p.baseOffset, p.appendTimeMs
	}
	r.ready.ProduceReplies = append(r.ready.ProduceReplies, rep)
}

// expire answers the produces waiting past their request timeout and the
// watches past their deadline.
func (r *Replica) expire(nowMs int64) {
	r.answerDeleteWaits(nowMs)
	kept := r.awaitingHW[:0]
	for _, p := range r.awaitingHW {
		if nowMs >= p.deadlineMs {
			r.reply(p, kerr.RequestTimedOut.Code, fmt.Sprintf("the high watermark did not pass offset %d within the request timeout", p.nextOffset-1))
		} else {
			kept = append(kept, p)
		}
	}
	r.awaitingHW = kept
	keptW := r.watches[:0]
	r.followerWatches = 0
	for _, w := range r.watches {
		if nowMs >= w.DeadlineMs {
			r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: w.id, Expired: true})
		} else {
			keptW = append(keptW, w)
			r.countWatch(w, 1)
		}
	}
	r.watches = keptW
}

// oneBatch is a slice of batch alone, for an AppendBatches: cut from a slab
// that the appends of one Ready share, so that the produces the shell hands
// the core together (a batch of them: partition_produce_queue.go) cost one
// allocation here, not one each. A slice handed out is never written again
// (the slab only grows past it, and a full one is replaced), and Ready
// starts the next slab (the one a Ready given back left, emptied:
// Recycle), so none outlives the Ready that carries it.
func (r *Replica) oneBatch(batch []byte) [][]byte {
	if len(r.batchSlab) == cap(r.batchSlab) {
		r.batchSlab = make([][]byte, 0, max(4, 2*cap(r.batchSlab)))
	}
	r.batchSlab = append(r.batchSlab, batch)
	n := len(r.batchSlab)
	return r.batchSlab[n-1 : n : n]
}

// appendErrorCode is storageErrorCode for a failed leader append, where any
// storage error is fatal: the log refused no batch of the client's (that is
// a Kafka error of its own: CORRUPT_MESSAGE, RECORD_LIST_TOO_LARGE, ...),
// the disk failed the write (EIO, ENOSPC). Kafka takes the log directory
// offline on any IOException of an append, and so does gregor: the batch
// is answered KAFKA_STORAGE_ERROR, the replica goes offline (Ready.Fatal),
// its broker reports it and the controller moves the leadership to a
// replica whose disk works, instead of this one leading on and refusing
// every write while its disk stays full. The replica starts again later
// (OfflineReplicas).
func (r *Replica) appendErrorCode(err error) int16 {
	code, fatal := r.storageErrorCode(err)
	if !fatal && code == kerr.KafkaStorageError.Code && r.ready.Fatal == nil {
		r.ready.Fatal = fmt.Errorf("append: %w", err)
	}
	return code
}

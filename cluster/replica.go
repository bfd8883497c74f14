package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// TimestampType is message.timestamp.type.
type TimestampType int8

// The two timestamp types of Kafka.
const (
	CreateTime TimestampType = iota
	LogAppendTime
)

// ReplicaConfig is what the replica core needs of its topic's configs.
type ReplicaConfig struct {
	// MaxMessageBytes is max.message.bytes: the largest batch accepted.
	MaxMessageBytes int32
	// TimestampType is message.timestamp.type.
	TimestampType TimestampType
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms:
	// how far a CreateTime may lie in the past or the future.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// MinInsyncReplicas is min.insync.replicas, checked for acks=all.
	MinInsyncReplicas int
	// DurableHighWatermark makes the high watermark follow the flushed
	// offset instead of the log end offset, so a record is acknowledged
	// (acks=all) and visible to consumers only once an fsync covers it (the
	// group-commit fsync mode).
	DurableHighWatermark bool
	// Compacted is cleanup.policy containing compact: every record must
	// have a key.
	Compacted bool
}

// ReplicaState is what the replica core recovers from its log on start.
type ReplicaState struct {
	LeaderEpoch    int32
	LogStartOffset int64
	LogEndOffset   int64
	FlushedOffset  int64
}

// RequestID names a request to the replica core; replies carry it back. The
// shell maps it to whoever waits.
type RequestID uint64

// Replica is the core of one partition replica, leader role: it validates
// produce batches, asks for appends, advances the high watermark, answers
// acks, bounds fetches and parks fetch watches. It does no I/O and reads no
// clock: the shell feeds it inputs and carries out the effects it lists in
// Ready. The ISR is the leader alone until replication arrives.
type Replica struct {
	cfg   ReplicaConfig
	state ReplicaState
	// highWatermark is the offset below which records are committed.
	highWatermark int64
	isr           []int32

	// appending holds produces handed to the shell for appending.
	appending map[RequestID]pendingProduce
	// awaitingHW holds acks=all produces whose last offset the high
	// watermark has not yet passed, in offset order.
	awaitingHW []pendingProduce
	// watches are parked fetches waiting for data past an offset.
	watches []watch

	ready Ready
}

type pendingProduce struct {
	id           RequestID
	acks         int16
	deadlineMs   int64
	appendTimeMs int64
	baseOffset   int64
	nextOffset   int64
}

type watch struct {
	id         RequestID
	offset     int64
	deadlineMs int64
}

// Ready is what the shell must do after a step, in order: append batches,
// send replies, wake watchers.
type Ready struct {
	// Appends are batches to append to the log (Log.Append); report the
	// outcome with AppendCompleted.
	Appends []AppendBatches
	// ProduceReplies answer produces.
	ProduceReplies []ProduceReply
	// Woken are watches to wake: data is readable past their offset, or
	// the deadline passed (Expired).
	Woken []WatchWoken
}

// AppendBatches asks the shell to append validated batches.
type AppendBatches struct {
	ID      RequestID
	Batches [][]byte
}

// ProduceReply answers one partition of a Produce request.
type ProduceReply struct {
	ID              RequestID
	ErrorCode       int16
	ErrorMessage    string
	BaseOffset      int64
	LogAppendTimeMs int64
	LogStartOffset  int64
}

// WatchWoken wakes a parked fetch watch.
type WatchWoken struct {
	ID      RequestID
	Expired bool
}

// NewReplica builds a leader replica over a recovered log.
func NewReplica(cfg ReplicaConfig, st ReplicaState, nodeID int32) *Replica {
	r := &Replica{cfg: cfg, state: st, isr: []int32{nodeID}, appending: map[RequestID]pendingProduce{}}
	r.advanceHighWatermark()
	return r
}

// HighWatermark is the offset below which records are committed.
func (r *Replica) HighWatermark() int64 { return r.highWatermark }

// LogEndOffset is the next offset to assign.
func (r *Replica) LogEndOffset() int64 { return r.state.LogEndOffset }

// LogStartOffset is the first readable offset.
func (r *Replica) LogStartOffset() int64 { return r.state.LogStartOffset }

// LeaderEpoch is the partition's leader epoch.
func (r *Replica) LeaderEpoch() int32 { return r.state.LeaderEpoch }

// SetConfig applies changed topic configs.
func (r *Replica) SetConfig(cfg ReplicaConfig) {
	r.cfg = cfg
	r.advanceHighWatermark()
}

// Ready takes the effects accumulated since the last call.
func (r *Replica) Ready() Ready {
	rd := r.ready
	r.ready = Ready{}
	return rd
}

// Produce validates the records of one partition of a Produce request (one
// RecordBatch v2, as Kafka requires from Produce v3 on) and asks for the
// append, or replies with the error.
func (r *Replica) Produce(id RequestID, records []byte, acks int16, timeoutMs int32, nowMs int64) {
	reply := func(code int16, format string, args ...any) {
		r.ready.ProduceReplies = append(r.ready.ProduceReplies, ProduceReply{ID: id, ErrorCode: code, ErrorMessage: fmt.Sprintf(format, args...), BaseOffset: -1, LogAppendTimeMs: -1, LogStartOffset: -1})
	}
	if acks != 0 && acks != 1 && acks != -1 {
		reply(kerr.InvalidRequiredAcks.Code, "acks must be 0, 1 or -1, got %d", acks)
		return
	}
	if acks == -1 && len(r.isr) < r.cfg.MinInsyncReplicas {
		reply(kerr.NotEnoughReplicas.Code, "%d in-sync replicas, min.insync.replicas is %d", len(r.isr), r.cfg.MinInsyncReplicas)
		return
	}
	batch, code, msg := r.validateBatch(records, nowMs)
	if code != 0 {
		reply(code, "%s", msg)
		return
	}
	p := pendingProduce{id: id, acks: acks, deadlineMs: nowMs + int64(max(timeoutMs, 0)), appendTimeMs: -1}
	if r.cfg.TimestampType == LogAppendTime {
		logstore.SetBatchLogAppendTime(batch, nowMs)
		p.appendTimeMs = nowMs
	}
	r.appending[id] = p
	r.ready.Appends = append(r.ready.Appends, AppendBatches{ID: id, Batches: [][]byte{batch}})
}

// validateBatch checks the produce records as Kafka's log validator does and
// returns the one batch, or a kerr code and message.
func (r *Replica) validateBatch(records []byte, nowMs int64) ([]byte, int16, string) {
	if len(records) == 0 {
		return nil, kerr.InvalidRecord.Code, "produce request has no record batch for the partition"
	}
	if len(records) > 16 && records[16] != 2 {
		return nil, kerr.UnsupportedForMessageFormat.Code, fmt.Sprintf("record batch magic %d: only magic 2 (Kafka 0.11+) is accepted", int8(records[16]))
	}
	size, err := logstore.BatchSize(records)
	if err != nil {
		return nil, kerr.CorruptMessage.Code, err.Error()
	}
	if size > len(records) {
		return nil, kerr.CorruptMessage.Code, fmt.Sprintf("record batch length field says %d bytes, the request holds %d", size, len(records))
	}
	if size != len(records) {
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("produce requests must hold exactly one record batch per partition; the first is %d of %d bytes", size, len(records))
	}
	if size > int(r.cfg.MaxMessageBytes) {
		return nil, kerr.MessageTooLarge.Code, fmt.Sprintf("record batch of %d bytes is larger than max.message.bytes %d", size, r.cfg.MaxMessageBytes)
	}
	b, err := logstore.ParseBatch(records)
	if err != nil {
		return nil, kerr.CorruptMessage.Code, err.Error()
	}
	switch {
	case b.FirstOffset != 0:
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("record batch base offset %d: a producer must send 0", b.FirstOffset)
	case b.NumRecords <= 0 || int64(b.NumRecords) != int64(b.LastOffsetDelta)+1:
		return nil, kerr.InvalidRecord.Code, fmt.Sprintf("record batch holds %d records but its last offset delta is %d", b.NumRecords, b.LastOffsetDelta)
	case b.Attributes&0x20 != 0:
		return nil, kerr.InvalidRecord.Code, "a producer may not send control batches"
	case b.Attributes&0x10 != 0:
		return nil, kerr.InvalidRecord.Code, "transactional batches need InitProducerID, which this broker does not serve yet"
	case b.Attributes&0x07 > 4:
		return nil, kerr.CorruptMessage.Code, fmt.Sprintf("unknown compression codec %d", b.Attributes&0x07)
	}
	if r.cfg.Compacted {
		n, err := logstore.KeylessRecords(&b)
		if err != nil {
			return nil, kerr.CorruptMessage.Code, err.Error()
		}
		if n > 0 {
			return nil, kerr.InvalidRecord.Code, fmt.Sprintf("compacted topic cannot accept records without a key (%d of %d have none)", n, b.NumRecords)
		}
	}
	if r.cfg.TimestampType == CreateTime {
		if b.MaxTimestamp < nowMs && nowMs-b.MaxTimestamp > r.cfg.TimestampBeforeMaxMs ||
			b.FirstTimestamp < nowMs && nowMs-b.FirstTimestamp > r.cfg.TimestampBeforeMaxMs {
			return nil, kerr.InvalidTimestamp.Code, fmt.Sprintf("timestamp %d is more than message.timestamp.before.max.ms %d before the broker's time %d", min(b.FirstTimestamp, b.MaxTimestamp), r.cfg.TimestampBeforeMaxMs, nowMs)
		}
		if b.MaxTimestamp > nowMs && b.MaxTimestamp-nowMs > r.cfg.TimestampAfterMaxMs {
			return nil, kerr.InvalidTimestamp.Code, fmt.Sprintf("timestamp %d is more than message.timestamp.after.max.ms %d after the broker's time %d", b.MaxTimestamp, r.cfg.TimestampAfterMaxMs, nowMs)
		}
	}
	return records, 0, ""
}

// AppendCompleted reports the outcome of an AppendBatches: the log end offset
// after it and the batch's base offset, or an error (then nothing was
// appended).
func (r *Replica) AppendCompleted(id RequestID, baseOffset, logEndOffset int64, err error) {
	p, ok := r.appending[id]
	if !ok {
		panic(fmt.Sprintf("replica: append completion for unknown request %d", id))
	}
	delete(r.appending, id)
	if err != nil {
		code := kerr.KafkaStorageError.Code
		var ke *kerr.Error
		if errors.As(err, &ke) {
			code = ke.Code
		}
		r.reply(p, code, err.Error())
		return
	}
	if logEndOffset < r.state.LogEndOffset {
		panic(fmt.Sprintf("replica: log end offset went back from %d to %d", r.state.LogEndOffset, logEndOffset))
	}
	r.state.LogEndOffset = logEndOffset
	p.baseOffset, p.nextOffset = baseOffset, logEndOffset
	switch p.acks {
	case 0:
	case 1:
		r.reply(p, 0, "")
	default:
		r.awaitingHW = append(r.awaitingHW, p)
	}
	r.advanceHighWatermark()
}

// Flushed reports that every record below offset is durable.
func (r *Replica) Flushed(offset int64) {
	if offset > r.state.FlushedOffset {
		r.state.FlushedOffset = offset
		r.advanceHighWatermark()
	}
}

// LogStartAdvanced reports a new log start offset (retention, DeleteRecords).
func (r *Replica) LogStartAdvanced(offset int64) {
	if offset > r.state.LogStartOffset {
		r.state.LogStartOffset = offset
	}
}

func (r *Replica) advanceHighWatermark() {
	hw := r.state.LogEndOffset
	if r.cfg.DurableHighWatermark {
		hw = min(hw, r.state.FlushedOffset)
	}
	if hw <= r.highWatermark {
		return
	}
	r.highWatermark = hw
	done := 0
	for _, p := range r.awaitingHW {
		if p.nextOffset > hw {
			break
		}
		r.reply(p, 0, "")
		done++
	}
	r.awaitingHW = r.awaitingHW[done:]
	kept := r.watches[:0]
	for _, w := range r.watches {
		if hw > w.offset {
			r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: w.id})
		} else {
			kept = append(kept, w)
		}
	}
	r.watches = kept
}

func (r *Replica) reply(p pendingProduce, code int16, msg string) {
	if p.acks == 0 {
		return
	}
	rep := ProduceReply{ID: p.id, ErrorCode: code, ErrorMessage: msg, BaseOffset: -1, LogAppendTimeMs: -1, LogStartOffset: r.state.LogStartOffset}
	if code == 0 {
		rep.BaseOffset, rep.LogAppendTimeMs = p.baseOffset, p.appendTimeMs
	}
	r.ready.ProduceReplies = append(r.ready.ProduceReplies, rep)
}

// FetchBounds is what a fetch at an offset may read: from Offset up to
// UpToOffset (the high watermark) with the partition's offsets, or an error.
type FetchBounds struct {
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Readable says whether there are records to read at the offset.
	Readable   bool
	UpToOffset int64
}

// Fetch bounds a read at offset by the epoch check (KIP-320) and the log's
// offsets.
func (r *Replica) Fetch(offset int64, currentLeaderEpoch int32) FetchBounds {
	fb := FetchBounds{HighWatermark: r.highWatermark, LastStableOffset: r.highWatermark, LogStartOffset: r.state.LogStartOffset, UpToOffset: r.highWatermark}
	switch {
	case currentLeaderEpoch > r.state.LeaderEpoch:
		fb.ErrorCode = kerr.UnknownLeaderEpoch.Code
	case currentLeaderEpoch >= 0 && currentLeaderEpoch < r.state.LeaderEpoch:
		fb.ErrorCode = kerr.FencedLeaderEpoch.Code
	case offset < r.state.LogStartOffset || offset > r.state.LogEndOffset:
		fb.ErrorCode = kerr.OffsetOutOfRange.Code
	default:
		fb.Readable = offset < r.highWatermark
	}
	return fb
}

// Watch parks a fetch until records past offset are committed or deadlineMs
// passes; it wakes at once when they already are.
func (r *Replica) Watch(id RequestID, offset, deadlineMs int64) {
	if r.highWatermark > offset {
		r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: id})
		return
	}
	const maxWatches = 100_000
	if len(r.watches) >= maxWatches {
		// Bounded: the oldest watch wakes early; its fetch reads again
		// and answers, which is always allowed.
		r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: r.watches[0].id, Expired: true})
		r.watches = r.watches[1:]
	}
	r.watches = append(r.watches, watch{id: id, offset: offset, deadlineMs: deadlineMs})
}

// Tick expires produces waiting past their request timeout and watches past
// their deadline.
func (r *Replica) Tick(nowMs int64) {
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
	for _, w := range r.watches {
		if nowMs >= w.deadlineMs {
			r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: w.id, Expired: true})
		} else {
			keptW = append(keptW, w)
		}
	}
	r.watches = keptW
}

// NextDeadlineMs is the earliest time Tick has work, or math.MaxInt64.
func (r *Replica) NextDeadlineMs() int64 {
	next := int64(math.MaxInt64)
	for _, p := range r.awaitingHW {
		next = min(next, p.deadlineMs)
	}
	for _, w := range r.watches {
		next = min(next, w.deadlineMs)
	}
	return next
}

// ListOffset resolves the special timestamps of ListOffsets: -2 earliest, -1
// latest (the high watermark; read_committed: the last stable offset, equal
// today), -4 earliest local. Other timestamps need the log's time index:
// lookup is true and the shell searches the log below the high watermark.
func (r *Replica) ListOffset(timestampMs int64) (offset int64, lookup bool) {
	switch timestampMs {
	case -2, -4:
		return r.state.LogStartOffset, false
	case -1:
		return r.highWatermark, false
	}
	return 0, true
}

// DeleteRecordsOffset checks a DeleteRecords target (-1: the high watermark)
// and returns the new log start offset, or a kerr code.
func (r *Replica) DeleteRecordsOffset(offset int64) (int64, int16) {
	if offset == -1 {
		offset = r.highWatermark
	}
	if offset < 0 || offset > r.highWatermark {
		return 0, kerr.OffsetOutOfRange.Code
	}
	return max(offset, r.state.LogStartOffset), 0
}

// PendingRequests lists the requests the core still owes an answer, sorted
// (for invariant checks and shutdown).
func (r *Replica) PendingRequests() []RequestID {
	var ids []RequestID
	for id := range r.appending {
		ids = append(ids, id)
	}
	for _, p := range r.awaitingHW {
		ids = append(ids, p.id)
	}
	for _, w := range r.watches {
		ids = append(ids, w.id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

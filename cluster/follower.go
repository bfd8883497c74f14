package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// The follower role (Kafka's ReplicaFetcherThread and AbstractFetcherThread,
// for one partition): after every leader epoch change the follower first
// truncates its log to where it agrees with the leader's (it asks the leader
// where its own latest epoch ends: OffsetForLeaderEpoch, KIP-101/KIP-279;
// KAFKA-7164), then fetches from its log end offset and appends what it gets
// as follower. Its high watermark is the leader's, never past its own log end
// offset; its log start offset follows the leader's.
//
// The node's fetcher for the leader (Fetcher) carries the requests: the
// follower publishes its fetch state (Ready.FetchState) and the shell hands it
// to that fetcher; the fetcher hands back one outcome per request
// (FetchedFromLeader, EpochEndOffsetFetched), which names the state it
// answers (Seq): an outcome for an older state is stale and changes nothing.
// After every outcome it takes, the follower publishes its state again, once
// the log work the outcome asked for is done.

// FollowerPhase is what a follower's fetcher must do for it.
type FollowerPhase int8

// The phases of a follower.
const (
	// FollowerIdle: nothing to fetch (the replica leads, its partition has
	// no leader, or the leader fenced its leader epoch until a newer
	// record comes).
	FollowerIdle FollowerPhase = iota
	// FollowerTruncating: ask the leader where epoch LastFetchedEpoch
	// ends (OffsetForLeaderEpoch).
	FollowerTruncating
	// FollowerFetching: fetch from FetchOffset (a Fetch with this node's
	// replica id).
	FollowerFetching
)

// String is the phase as logs name it ("idle", ...).
func (p FollowerPhase) String() string {
	switch p {
	case FollowerIdle:
		return "idle"
	case FollowerTruncating:
		return "truncating"
	case FollowerFetching:
		return "fetching"
	}
	return fmt.Sprintf("FollowerPhase(%d)", int8(p))
}

// FollowerFetchState is what the fetcher of a follower's leader needs of it
// (Kafka's PartitionFetchState).
type FollowerFetchState struct {
	// Seq numbers the states a replica publishes; outcomes name it.
	Seq uint64
	// Leader is the broker to fetch from, -1 for none.
	Leader int32
	// CurrentLeaderEpoch goes in every request (KIP-320).
	CurrentLeaderEpoch int32
	Phase              FollowerPhase
	// FetchOffset is the follower's log end offset: the Fetch's
	// fetch_offset.
	FetchOffset int64
	// LogStartOffset is the follower's log start offset: the Fetch's
	// log_start_offset.
	LogStartOffset int64
	// LastFetchedEpoch is the epoch of the follower's newest records, -1
	// for none: what OffsetForLeaderEpoch asks about while truncating, and
	// the Fetch's last_fetched_epoch.
	LastFetchedEpoch int32
	// Backoff asks the fetcher to wait its backoff before the next request
	// for the partition: the last one failed.
	Backoff bool
}

// FollowerFetchOutcome is what the leader answered for one partition of a
// follower's Fetch (Fetcher turns the response into these).
type FollowerFetchOutcome struct {
	// Seq is the FollowerFetchState the request was built from.
	Seq            uint64
	ErrorCode      int16
	HighWatermark  int64
	LogStartOffset int64
	// DivergingEpoch and DivergingEndOffset are the leader's answer when
	// the follower's last fetched epoch diverges from its log (Fetch v12+,
	// KIP-595's truncation in fetch): -1 and -1 when absent.
	DivergingEpoch     int32
	DivergingEndOffset int64
	// Records are the record batches fetched, as the leader stored them.
	Records []byte
}

// EpochEndOutcome is what the leader answered for one partition of an
// OffsetForLeaderEpoch request.
type EpochEndOutcome struct {
	// Seq is the FollowerFetchState the request was built from.
	Seq         uint64
	ErrorCode   int16
	LeaderEpoch int32
	EndOffset   int64
}

// TruncateLog asks the shell to truncate a follower's log to Offset
// (Log.Truncate, which cuts at batch boundaries), or with Fully to empty it
// and restart it at Offset (Log.TruncateFullyAndStartAt: the leader's log
// starts past this one's end), at wall time NowMs. Report it with
// Truncated.
type TruncateLog struct {
	Offset int64
	Fully  bool
	NowMs  int64
}

// TruncateOutcome is the log after a truncation.
type TruncateOutcome struct {
	LogStartOffset int64
	LogEndOffset   int64
	FlushedOffset  int64
	LeaderEpochs   []logstore.EpochEntry
	// Producers is the log's producer state after the truncation
	// (Log.ProducerStates); nil makes the core drop the producers whose
	// latest batch was cut.
	Producers *logstore.ProducerStates
}

// AppendAsFollower asks the shell to append batches fetched from the leader,
// offsets and epochs as the leader stored them (Log.AppendAsFollower at wall
// time NowMs). Report it with FollowerAppendCompleted.
type AppendAsFollower struct {
	Batches [][]byte
	NowMs   int64
}

// FollowerAppendOutcome is the log after an append as follower.
type FollowerAppendOutcome struct {
	LogEndOffset  int64
	FlushedOffset int64
	LeaderEpochs  []logstore.EpochEntry
}

// RaiseLogStart asks the shell to raise the log start offset
// (Log.AdvanceLogStartOffset): a follower's to its leader's, or a leader's
// past a stretch at the start of its log that holds no batch
// (emptyPrefixEnd). Report it with LogStartRaised.
type RaiseLogStart struct {
	Offset int64
}

// followerState is the follower role's state.
type followerState struct {
	phase FollowerPhase
	// fenced: the leader fenced this replica's leader epoch; nothing is
	// fetched until a newer record comes.
	fenced bool
	// backoff: the next published state asks for the fetcher's backoff.
	backoff bool
	// dirty: the state changed, or an outcome was taken; publish it once
	// no log work is in flight.
	dirty bool
}

// followerLogWork is the log work a follower handed to the shell: at most
// one truncation, one append and one log start raise at a time. It outlives
// the follower role: a completion may come after the replica began to lead
// (with a shell that completes work asynchronously).
type followerLogWork struct {
	truncation *TruncateLog
	// truncationDone says the truncation ends the truncating phase (else
	// the follower asks again about the epoch below).
	truncationDone bool
	// appending is set while an append as follower is with the shell;
	// leaderHighWatermark and leaderLogStartOffset are the leader's
	// offsets to apply once it is done.
	appending            bool
	leaderHighWatermark  int64
	leaderLogStartOffset int64
	raisingLogStart      bool
}

// FetchState is the follower's fetch state as it stands, numbered as the
// last one published (phase FollowerIdle when leading).
func (r *Replica) FetchState() FollowerFetchState {
	if r.follower == nil {
		return FollowerFetchState{Seq: r.fetchSeq, Leader: r.partition.Leader, CurrentLeaderEpoch: r.partition.LeaderEpoch,
			FetchOffset: -1, LogStartOffset: -1, LastFetchedEpoch: -1}
	}
	return r.followerFetchState()
}

func (r *Replica) followerFetchState() FollowerFetchState {
	f := r.follower
	st := FollowerFetchState{Seq: r.fetchSeq, Leader: r.partition.Leader, CurrentLeaderEpoch: r.partition.LeaderEpoch,
		Phase: f.phase, FetchOffset: r.state.LogEndOffset, LogStartOffset: r.state.LogStartOffset,
		LastFetchedEpoch: latestEpoch(r.epochs), Backoff: f.backoff}
	if r.partition.Leader < 0 || f.fenced {
		st.Phase = FollowerIdle
	}
	return st
}

// logWorkInFlight says whether the shell still has log work whose outcome
// the core must know before it can say where the log ends.
func (r *Replica) logWorkInFlight() bool {
	w := &r.logWork
	return len(r.appending) > 0 || r.assigningEpoch || w.truncation != nil || w.appending || w.raisingLogStart
}

// step moves the role on once log work is done: a leader records its epoch's
// start, a follower truncates or publishes its state.
func (r *Replica) step() {
	if r.leader != nil {
		r.leaderStep()
	} else {
		r.followerStep()
	}
}

// followerStep moves the follower on once no log work is in flight: a
// truncating follower whose log holds no leader epoch truncates to its high
// watermark (Kafka's fallback: it has nothing to ask about); one that holds
// an epoch fetches at once under TruncateOnFetch (its leader's answer says
// where its log diverges); then the state is published if it changed.
func (r *Replica) followerStep() {
	f := r.follower
	if f == nil || r.logWorkInFlight() {
		return
	}
	if f.phase == FollowerTruncating && !f.fenced && r.partition.Leader >= 0 {
		switch {
		case latestEpoch(r.epochs) < 0:
			if r.highWatermark < r.state.LogEndOffset {
				r.truncate(TruncateLog{Offset: r.highWatermark}, true)
				return
			}
			f.phase, f.dirty = FollowerFetching, true
		case r.opts.TruncateOnFetch:
			f.phase, f.dirty = FollowerFetching, true
		}
	}
	if !f.dirty {
		return
	}
	f.dirty = false
	r.fetchSeq++
	st := r.followerFetchState()
	f.backoff = false
	r.ready.FetchState = &st
}

// SetTruncateOnFetch switches ReplicaOptions.TruncateOnFetch: the shell
// follows the cluster's finalized ReplicationVersionFeature
// (TruncateOnFetchAllowed) and the node's own setting. A follower waiting
// to ask OffsetForLeaderEpoch fetches at once when it is switched on; one
// switched off asks first after its next leader change (its leader answers
// diverging epochs either way).
func (r *Replica) SetTruncateOnFetch(on bool) {
	if r.opts.TruncateOnFetch == on {
		return
	}
	r.opts.TruncateOnFetch = on
	if r.follower != nil {
		r.followerStep()
	}
}

// takeOutcome says whether an outcome answers the follower's current state
// in the phase it expects, and marks the state for publishing again.
func (r *Replica) takeOutcome(seq uint64, phase FollowerPhase, now Instant) bool {
	r.observe(now)
	f := r.follower
	if f == nil || seq != r.fetchSeq || f.phase != phase || f.fenced || r.partition.Leader < 0 || r.logWorkInFlight() {
		return false
	}
	f.dirty = true
	return true
}

// EpochEndOffsetFetched takes the leader's answer to the follower's
// OffsetForLeaderEpoch at time now (stale answers change nothing): where its
// latest epoch ends in the leader's log decides where its own log is cut
// (truncationOffset). FENCED_LEADER_EPOCH (the leader is at a newer epoch
// than this replica's record) idles the follower until a newer record; any
// other error asks the fetcher to back off and ask again.
func (r *Replica) EpochEndOffsetFetched(o EpochEndOutcome, now Instant) {
	if !r.takeOutcome(o.Seq, FollowerTruncating, now) {
		return
	}
	r.takeEpochEnd(o.ErrorCode, o.LeaderEpoch, o.EndOffset, now)
	r.followerStep()
}

func (r *Replica) takeEpochEnd(code int16, leaderEpoch int32, endOffset int64, now Instant) {
	f := r.follower
	switch code {
	case 0:
		offset, done := r.truncationOffset(leaderEpoch, endOffset)
		r.truncate(TruncateLog{Offset: offset}, done)
	case kerr.FencedLeaderEpoch.Code:
		f.fenced = true
	default:
		f.backoff = true
	}
}

// truncationOffset is where a follower cuts its log given the leader's answer
// (leaderEpoch, leaderEnd) about its latest epoch, and whether that ends the
// truncation (Kafka's getOffsetTruncationState):
//   - the leader cannot say (-1 offset): keep the log (as Kafka, which goes
//     on from the fetch offset);
//   - no epoch in the answer: the leader's offset, or the log end;
//   - the follower does not hold the leader's epoch: cut where its first
//     later epoch starts and ask again about the epoch below;
//   - otherwise: where the epoch ends in both logs, whichever is lower.
func (r *Replica) truncationOffset(leaderEpoch int32, leaderEnd int64) (int64, bool) {
	leo := r.state.LogEndOffset
	if leaderEnd < 0 {
		return leo, true
	}
	if leaderEpoch < 0 {
		return min(leaderEnd, leo), true
	}
	epoch, end := epochEndOffset(r.epochs, leaderEpoch, leo)
	switch {
	case epoch < 0:
		return min(leaderEnd, leo), true
	case epoch != leaderEpoch:
		return min(end, leo), false
	}
	return min(end, leaderEnd, leo), true
}

// truncate hands a truncation to the shell, at the latest wall time the core
// was told.
func (r *Replica) truncate(t TruncateLog, done bool) {
	t.NowMs = r.wallMs
	r.logWork.truncation, r.logWork.truncationDone = &t, done
	tc := t
	r.ready.Truncate = &tc
}

// Truncated reports the outcome of a TruncateLog: the log after it, or the
// error. A follower that cannot truncate cannot follow (its log would
// diverge from the leader's): the partition goes offline (Fatal).
func (r *Replica) Truncated(out TruncateOutcome, err error) {
	w := &r.logWork
	if w.truncation == nil {
		panic("replica: truncation completed without TruncateLog")
	}
	t, done := w.truncation, w.truncationDone
	w.truncation = nil
	if err != nil {
		if r.ready.Fatal == nil {
			r.ready.Fatal = fmt.Errorf("truncate the log to %d: %w", t.Offset, err)
		}
		return
	}
	if out.LogEndOffset > max(t.Offset, r.state.LogStartOffset) && !t.Fully || out.LogStartOffset > out.LogEndOffset || out.FlushedOffset > out.LogEndOffset {
		panic(fmt.Sprintf("replica: truncation to %d left the log at [%d, %d)", t.Offset, out.LogStartOffset, out.LogEndOffset))
	}
	r.state.LogStartOffset, r.state.LogEndOffset, r.state.FlushedOffset = out.LogStartOffset, out.LogEndOffset, out.FlushedOffset
	r.setEpochs(out.LeaderEpochs)
	r.producersTruncated(out.Producers, out.LogEndOffset)
	r.highWatermark = max(min(r.highWatermark, out.LogEndOffset), out.LogStartOffset)
	r.noteEndedTxns()
	if f := r.follower; f != nil {
		if done && f.phase == FollowerTruncating {
			f.phase = FollowerFetching
		}
		f.dirty = true
	}
	r.step()
}

// FetchedFromLeader takes the leader's answer to the follower's Fetch at time
// now (stale answers change nothing): records are appended as follower, then
// the high watermark and log start offset follow the leader's; a diverging
// epoch truncates as an OffsetForLeaderEpoch answer would;
// OFFSET_OUT_OF_RANGE restarts the log at the leader's log start offset when
// that is past this log's end, and otherwise (this log runs past the
// leader's, after an unclean election) cuts it to the leader's high
// watermark; FENCED_LEADER_EPOCH idles the follower until a newer record; any
// other error asks the fetcher to back off.
func (r *Replica) FetchedFromLeader(o FollowerFetchOutcome, now Instant) {
	if !r.takeOutcome(o.Seq, FollowerFetching, now) {
		return
	}
	f := r.follower
	switch o.ErrorCode {
	case 0:
		if o.DivergingEpoch >= 0 && o.DivergingEndOffset >= 0 {
			r.takeEpochEnd(0, o.DivergingEpoch, o.DivergingEndOffset, now)
			f.phase = FollowerTruncating
			break
		}
		r.appendFetched(o, now)
	case kerr.OffsetOutOfRange.Code:
		switch leo := r.state.LogEndOffset; {
		case o.LogStartOffset > leo:
			r.truncate(TruncateLog{Offset: o.LogStartOffset, Fully: true}, true)
		case o.HighWatermark >= 0 && o.HighWatermark < leo:
			r.truncate(TruncateLog{Offset: o.HighWatermark}, true)
		default:
			f.backoff = true
		}
	case kerr.FencedLeaderEpoch.Code:
		f.fenced = true
	default:
		f.backoff = true
	}
	r.followerStep()
}

// appendFetched hands the fetched batches to the shell, or (none) applies the
// leader's offsets at once.
func (r *Replica) appendFetched(o FollowerFetchOutcome, now Instant) {
	f := r.follower
	batches, err := splitFetched(o.Records, r.state.LogEndOffset)
	if err != nil {
		f.backoff = true
		return
	}
	batches = cutStraddlingStretch(batches, r.state.LogEndOffset)
	batches = belowEpoch(batches, r.partition.LeaderEpoch)
	if len(batches) == 0 {
		r.followLeaderOffsets(o.HighWatermark, o.LogStartOffset)
		return
	}
	w := &r.logWork
	w.appending = true
	w.leaderHighWatermark, w.leaderLogStartOffset = o.HighWatermark, o.LogStartOffset
	r.followerInfos = producerInfos(batches)
	r.ready.FollowerAppend = &AppendAsFollower{Batches: batches, NowMs: now.WallMs}
}

// splitFetched cuts fetched records into whole batches, dropping those wholly
// below the fetch offset and a partial batch at the end (a leader may cut the
// last batch at its byte limit). What remains is checked by the log.
func splitFetched(records []byte, fetchOffset int64) ([][]byte, error) {
	var out [][]byte
	for len(records) > 0 {
		if len(records) < logstore.BatchHeaderBytes {
			break
		}
		n, err := logstore.BatchSize(records)
		if err != nil {
			return nil, err
		}
		if n > len(records) {
			break
		}
		base := int64(binary.BigEndian.Uint64(records))
		lastDelta := int64(int32(binary.BigEndian.Uint32(records[23:])))
		if base+lastDelta >= fetchOffset {
			out = append(out, records[:n:n])
		}
		records = records[n:]
	}
	return out, nil
}

// cutStraddlingStretch replaces a first batch that is an empty stretch
// (logstore.IsEmptyStretchBatch: no record, no producer) starting below the
// log end offset with one over the same leader epoch from the log end
// offset to its end. Replicas can differ in batch bounds there: a leader
// whose log held no batch from a follower's fetch offset answered it with
// an empty stretch from that offset (emptyStretch), while another replica
// still held batches of the stretch it had not compacted away; when the
// first follower leads, the other one's fetch at its own log end finds
// that empty batch starting below it, and the log refuses a batch below
// its end. Before, that follower fetched it again and again and never
// rejoined the ISR (the simulator's seed 5232008 with --profile compaction,
// 5 nodes: n2 stayed at 1454 under n5's empty batch [1452, 2753]). The
// records are the same (none), so the follower's log end moves as its
// leader's does.
//
// Only a first batch whose header says it may be an empty stretch is parsed:
// every fetched batch is checked (CRC-32C) by the log's append, and a second
// pass over a data batch here cost as much again (the first batch of a
// follower's fetch under a steady produce is a whole 1 MiB batch: at 1 KiB
// records on three nodes this pass was 9% of the brokers' CPU samples while
// they replicated, in profiles of the three).
func cutStraddlingStretch(batches [][]byte, logEnd int64) [][]byte {
	if len(batches) == 0 || !logstore.MayBeEmptyStretchBatch(batches[0]) {
		return batches
	}
	b, err := logstore.ParseBatch(batches[0])
	if err != nil || b.FirstOffset >= logEnd || b.LastOffset() < logEnd || !logstore.IsEmptyStretchBatch(&b) {
		return batches
	}
	out := slices.Clone(batches)
	out[0] = logstore.EmptyBatch(logEnd, b.LastOffset(), b.PartitionLeaderEpoch)
	return out
}

// belowEpoch keeps the batches before the first one written at a leader epoch
// past epoch, the one this follower fetched at. Its leader can have no such
// batch: one comes from a read of the leader's log that a newer leader's
// records overwrote after the answer was planned (the leader lost its
// leadership, truncated, and fetched from its successor, before the
// planned read took the bytes). Appending it would put a newer epoch on top
// of records its leader may not have, and the follower's next
// OffsetForLeaderEpoch, asking about that epoch, would not find the
// divergence below it.
func belowEpoch(batches [][]byte, epoch int32) [][]byte {
	for i, b := range batches {
		if logstore.BatchLeaderEpoch(b) > epoch {
			return batches[:i]
		}
	}
	return batches
}

// badBatch says an append failed on the batches themselves (the log
// validates them), not on the log.
func badBatch(err error) bool {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kerr.CorruptMessage, kerr.InvalidRecord, kerr.RecordListTooLarge, kerr.MessageTooLarge:
		return true
	}
	return false
}

// FollowerAppendCompleted reports the outcome of an AppendAsFollower: the log
// after it, or the error. Batches the log refused as corrupt or invalid (a
// transient state of the leader's log) are fetched again after a backoff, as
// in Kafka; any other error (storage) takes the partition offline (Fatal).
func (r *Replica) FollowerAppendCompleted(out FollowerAppendOutcome, err error) {
	w := &r.logWork
	if !w.appending {
		panic("replica: append as follower completed without AppendAsFollower")
	}
	w.appending = false
	f := r.follower
	if f != nil {
		f.dirty = true
	}
	if err != nil {
		if badBatch(err) {
			if f != nil {
				f.backoff = true
			}
		} else if r.ready.Fatal == nil {
			r.ready.Fatal = fmt.Errorf("append as follower: %w", err)
		}
		r.step()
		return
	}
	if out.LogEndOffset < r.state.LogEndOffset || out.FlushedOffset > out.LogEndOffset {
		panic(fmt.Sprintf("replica: append as follower moved the log end offset from %d to %d", r.state.LogEndOffset, out.LogEndOffset))
	}
	r.state.LogEndOffset = out.LogEndOffset
	r.state.FlushedOffset = max(r.state.FlushedOffset, out.FlushedOffset)
	r.setEpochs(out.LeaderEpochs)
	r.applyFollowerBatches(r.followerInfos)
	r.followerInfos = nil
	if f != nil {
		r.followLeaderOffsets(w.leaderHighWatermark, w.leaderLogStartOffset)
	}
	r.step()
}

// followLeaderOffsets takes the leader's high watermark (kept within this
// log: never past its end, as Kafka's follower, even when that lowers it) and
// raises the log start offset towards the leader's.
func (r *Replica) followLeaderOffsets(leaderHW, leaderLogStart int64) {
	if leaderHW >= 0 {
		r.highWatermark = max(min(leaderHW, r.state.LogEndOffset), r.state.LogStartOffset)
		r.pruneUnreplicatedTxns()
	}
	if target := min(leaderLogStart, r.state.LogEndOffset); target > r.state.LogStartOffset && !r.logWork.raisingLogStart {
		r.logWork.raisingLogStart = true
		r.ready.RaiseLogStart = &RaiseLogStart{Offset: target}
	}
}

// LogStartRaised reports the outcome of a RaiseLogStart: the log start offset
// after it, or the error (then a follower tries again after its next fetch,
// a leader after its next empty read).
func (r *Replica) LogStartRaised(logStartOffset int64, err error) {
	if !r.logWork.raisingLogStart {
		panic("replica: log start raised without RaiseLogStart")
	}
	r.logWork.raisingLogStart = false
	if err == nil {
		r.raiseLogStartOffset(logStartOffset)
	}
	r.step()
}

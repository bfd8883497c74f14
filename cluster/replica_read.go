package cluster

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// FetchPartition is one partition of a Fetch request.
type FetchPartition struct {
	FetchOffset        int64
	PartitionMaxBytes  int32
	CurrentLeaderEpoch int32
	// Follower is set when a follower fetches (a Fetch with a replica id):
	// it reads up to the log end offset, and its fetch offset tells the
	// leader how far its log goes. nil for consumers.
	Follower *FollowerFetch
	// ToLogEnd reads up to the log end offset, not the high watermark
	// (Kafka's LOG_END fetch isolation): a group or transaction coordinator
	// loading its partition on a new leader reads every record of the
	// leader's log, some of them acknowledged by the previous leader above
	// this one's high watermark. No client's fetch sets it.
	ToLogEnd bool
}

// FollowerFetch is what a follower's Fetch says besides its fetch offset.
type FollowerFetch struct {
	// ReplicaID is the follower's broker id.
	ReplicaID int32
	// LogStartOffset is the follower's log start offset.
	LogStartOffset int64
	// FetchedAtMs is when the fetch arrived (monotonic): a follower is
	// caught up as of the fetches that reach the leader's log end offset.
	FetchedAtMs int64
	// BrokerEpoch is the follower's broker epoch (Fetch v15+ replica
	// state), -1 when it sent none: AlterPartition names it for the
	// controller to check (KIP-903: a broker that restarted, maybe with
	// less data, does not rejoin on the strength of its old fetches).
	BrokerEpoch int64
	// LastFetchedEpoch is the epoch of the follower's newest records
	// (Fetch v12+ last_fetched_epoch), -1 when it sent none: the leader
	// checks it against its own log (divergence).
	LastFetchedEpoch int32
}

// DivergingEpoch is a leader's answer to a follower whose last fetched epoch
// diverges from the leader's log (Fetch v12+, KIP-595's truncation in
// fetch): the largest epoch of the leader's log at or below the follower's
// and where it ends there. The follower truncates by it as by an
// OffsetForLeaderEpoch answer.
type DivergingEpoch struct {
	Epoch     int32
	EndOffset int64
}

// Watch parks a fetch in the replica until records past its fetch offset are
// readable at its isolation level, or until DeadlineMs (monotonic) passes.
type Watch struct {
	Partition  FetchPartition
	Isolation  IsolationLevel
	DeadlineMs int64
	// ReadOnWake answers the watch, when records come, with a FetchReply
	// holding them (a fetch of one partition gets its records with the
	// wake-up, without a second round trip) instead of a WatchWoken.
	ReadOnWake bool
	// WaitPast, when past the fetch offset, is where the fetch's last read
	// stopped (FetchReply.ReadUpTo): the records below it, if any, were
	// too few for the fetch's min_bytes (or a stretch held none), so the
	// watch waits for records past it, not past the fetch offset, or it
	// would wake at once and read the same again until its deadline. On
	// a wake-up a ReadOnWake watch reads from the fetch offset.
	WaitPast int64
	// Fetcher, when not zero, names who fetches (a follower, or a
	// client's connection). A fetcher has one Fetch in flight at a time,
	// so its new watch replaces its older one here: that one belongs to a
	// Fetch already answered (by another partition's records) or given
	// up, which its own deadline answers in any case. Without it, each
	// Fetch of many partitions answered for the records of one left a
	// watch in every other until its deadline, and each append walked
	// them all and woke them for nothing.
	Fetcher uint64
}

// wakesAbove is the offset past which readable records wake the watch.
func (w *Watch) wakesAbove() int64 { return max(w.Partition.FetchOffset, w.WaitPast) }

type watch struct {
	id RequestID
	Watch
}

// maxWatches bounds the parked watches of a replica.
const maxWatches = 100_000

// readableBelow is the offset a consumer's fetch at isolation may read up
// to: the high watermark, or the last stable offset for read_committed.
func (r *Replica) readableBelow(isolation IsolationLevel) int64 {
	if isolation == ReadCommitted {
		return r.LastStableOffset()
	}
	return r.highWatermark
}

// readableFor is the offset a fetch may read up to: a follower's and a
// coordinator's load, the log end offset; a consumer's, readableBelow.
func (r *Replica) readableFor(p FetchPartition, isolation IsolationLevel) int64 {
	if p.Follower != nil || p.ToLogEnd {
		return r.state.LogEndOffset
	}
	return r.readableBelow(isolation)
}

// Fetch serves one partition of a Fetch at an isolation level: it replies at
// once with an error (leader epoch fenced or unknown, KIP-320; not the
// leader; a follower not among the replicas; offset out of range) or with no
// records (nothing readable at the offset yet), or asks for a log read up to
// the high watermark (read_committed: the last stable offset; a follower:
// the log end offset) and replies after ReadCompleted. A follower's fetch
// that passes these checks first updates the leader's view of it (its log
// end offset is the fetch offset), which may grow the ISR and advance the
// high watermark; one whose last fetched epoch diverges from this log gets
// the diverging epoch instead, with no records (divergence).
func (r *Replica) Fetch(id RequestID, p FetchPartition, isolation IsolationLevel) {
	if p.Follower != nil {
		r.observeMs(p.Follower.FetchedAtMs)
	}
	code := r.checkFetch(p)
	var diverging *DivergingEpoch
	if p.Follower != nil && (code == 0 || code == kerr.OffsetOutOfRange.Code && p.FetchOffset > r.state.LogEndOffset) {
		// Past the log end offset, a follower whose log diverges is told
		// where, not OFFSET_OUT_OF_RANGE (it would cut its log to this
		// leader's high watermark, which may lag what an earlier leader
		// committed), as Kafka checks the epoch first.
		if diverging = r.divergence(p); diverging != nil {
			code = 0
		}
	}
	if code == 0 && p.Follower != nil && diverging == nil {
		r.followerFetched(p.Follower, p.FetchOffset)
	}
	rep := FetchReply{ID: id, ErrorCode: code, HighWatermark: r.highWatermark, LastStableOffset: r.LastStableOffset(), LogStartOffset: r.state.LogStartOffset,
		CurrentLeader: r.leaderHint(code), Diverging: diverging}
	if diverging != nil {
		r.ready.FetchReplies = append(r.ready.FetchReplies, rep)
		return
	}
	if upTo := r.readableFor(p, isolation); code == 0 && p.FetchOffset < upTo {
		rep.ReadUpTo = upTo
		r.reading[id] = rep
		if !p.ToLogEnd {
			r.prefixReads[id] = prefixRead{fetchOffset: p.FetchOffset, leaderEpoch: r.partition.LeaderEpoch, follower: p.Follower != nil}
		}
		r.ready.Reads = append(r.ready.Reads, ReadRecords{ID: id, Offset: p.FetchOffset, MaxBytes: int64(max(p.PartitionMaxBytes, 1)), MaxOffset: upTo,
			Follower: p.Follower != nil})
		return
	}
	r.ready.FetchReplies = append(r.ready.FetchReplies, rep)
}

// divergence is where a follower's log diverges from this leader's, nil when
// it does not, the fetch carries no last fetched epoch (Fetch before v12:
// the shell passes -1), or the leader cannot say. A leader answers every
// follower whose fetch carries one, as Kafka's does to Fetch v12+, whether
// or not its own followers truncate on fetch (ReplicaOptions.TruncateOnFetch
// is the follower's side alone): a follower that asked OffsetForLeaderEpoch
// first takes a diverging epoch as well, so a cluster whose replicas differ
// in TruncateOnFetch stays safe. The follower's last fetched epoch
// ends in this log below its fetch offset, or is not in this log at all (the
// largest epoch at or below it is older). Its fetch then reads nothing and
// does not count as the follower's log end offset (it may hold records this
// log does not, past the high watermark): it truncates first, as Kafka's
// leader answers Fetch v12+. An epoch this log cannot place (newer than its
// latest, or no epochs at all) is left to the follower's own
// OffsetForLeaderEpoch, which it asks after every leader change.
func (r *Replica) divergence(p FetchPartition) *DivergingEpoch {
	last := p.Follower.LastFetchedEpoch
	if last < 0 {
		return nil
	}
	// An epoch past this log's latest (its own epoch's start not recorded
	// yet) is none this log holds: the follower's records of it diverge
	// from where this log's latest epoch ends.
	epoch, end := epochEndOffset(r.epochs, min(last, latestEpoch(r.epochs)), r.state.LogEndOffset)
	if epoch < 0 || end < 0 || (epoch == last && end >= p.FetchOffset) {
		return nil
	}
	return &DivergingEpoch{Epoch: epoch, EndOffset: end}
}

// checkFetch is the error a fetch gets before any read, or 0 (Kafka's order:
// the leader epoch, the leadership, the follower's membership, the offset).
// A follower outside the replica set gets UNKNOWN_LEADER_EPOCH when it sent
// its leader epoch (the leader's metadata may lag a reassignment), else
// NOT_LEADER_OR_FOLLOWER.
func (r *Replica) checkFetch(p FetchPartition) int16 {
	if code := r.checkLeaderEpoch(p.CurrentLeaderEpoch); code != 0 {
		return code
	}
	if r.leader == nil {
		return kerr.NotLeaderForPartition.Code
	}
	if f := p.Follower; f != nil && (f.ReplicaID == r.opts.NodeID || r.leader.followers[f.ReplicaID] == nil) {
		if p.CurrentLeaderEpoch >= 0 {
			return kerr.UnknownLeaderEpoch.Code
		}
		return kerr.NotLeaderForPartition.Code
	}
	if p.FetchOffset < r.state.LogStartOffset || p.FetchOffset > r.state.LogEndOffset {
		return kerr.OffsetOutOfRange.Code
	}
	return 0
}

// prefixRead is a follower's or a consumer's read: the fetch offset and
// the leader epoch the read was planned at (a follower's read at the log
// start offset may raise it, emptyPrefixEnd; one that found no batch may
// answer an empty stretch, emptyStretch). A coordinator's load (ToLogEnd)
// has none: a read that finds nothing ends its load.
type prefixRead struct {
	fetchOffset int64
	leaderEpoch int32
	follower    bool
}

// emptyPrefixEnd is where the leader's log start offset can move after a
// follower's read from it found no batch below the read's end (rep's
// ReadUpTo, the log end offset when the fetch came), or -1.
//
// A leader's log can hold no batch below its end at all: compaction removed
// every record, then a truncation cut off the batch a cleaning pass kept
// (KAFKA-9065). A follower fetching below that end would get no records for
// ever, never reach the high watermark and never rejoin the ISR; nothing in
// a Fetch answer tells it where the leader's records resume. So the leader
// moves its log start offset past the empty stretch, as DeleteRecords
// would: it drops nothing, the stretch holds no batch. The follower's next
// fetch gets OFFSET_OUT_OF_RANGE with that log start offset and restarts its
// log there (records it holds below are ones the leader no longer has, as
// after retention). The move stops at the high watermark (a log never starts
// past it) and needs the read whole (a read always returns the first batch
// past its offset, whatever the bytes asked for), this replica still leading
// at the read's epoch and its log start offset still the read's offset.
func (r *Replica) emptyPrefixEnd(rd prefixRead, rep FetchReply, recs *logstore.Records) int64 {
	if !rd.follower || recs == nil || recs.NextOffset > rd.fetchOffset || r.leader == nil || r.partition.LeaderEpoch != rd.leaderEpoch ||
		r.state.LogStartOffset != rd.fetchOffset || r.logWork.raisingLogStart {
		return -1
	}
	if end := min(rep.ReadUpTo, r.highWatermark, r.state.LogEndOffset); end > rd.fetchOffset {
		return end
	}
	return -1
}

// ReadCompleted reports the outcome of a ReadRecords: the records read, or
// the error. A corrupt log answers KAFKA_STORAGE_ERROR and is fatal. A
// follower's read at the log start offset that found no batch below the log
// end offset moves the log start offset past that empty stretch
// (emptyPrefixEnd; RaiseLogStart, then LogStartRaised); any other
// follower's read that found no batch up to the log end offset, and a
// consumer's that found none up to the high watermark (the last stable
// offset), is answered with empty batches over the stretch (emptyStretch).
func (r *Replica) ReadCompleted(id RequestID, recs *logstore.Records, err error) {
	rep, ok := r.reading[id]
	if !ok {
		panic(fmt.Sprintf("replica: read completion for unknown request %d", id))
	}
	delete(r.reading, id)
	prefix, prefixed := r.prefixReads[id]
	delete(r.prefixReads, id)
	switch code, fatal := r.storageErrorCode(err); {
	case fatal:
		rep = FetchReply{ID: id, ErrorCode: code, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, CurrentLeader: noLeaderHint}
	case err != nil:
		rep.ErrorCode = code
	default:
		rep.Records = recs
		if !prefixed {
			break
		}
		if end := r.emptyPrefixEnd(prefix, rep, recs); end >= 0 {
			r.logWork.raisingLogStart = true
			r.ready.RaiseLogStart = &RaiseLogStart{Offset: end}
		} else if stretch := r.emptyStretch(prefix, rep, recs); stretch != nil {
			recs.Release()
			rep.Records = logstore.EmptyStretchRecords(stretch)
		}
	}
	r.ready.FetchReplies = append(r.ready.FetchReplies, rep)
}

// Watch parks a fetch watch; it wakes at once when records past its offset
// are already readable. At the bound, the oldest watch is woken early: its
// fetch reads again and answers, which is always allowed.
//
// A watch wakes at once, too, on a replica that does not lead or fences its
// leader epoch: its fetch reads again and gets the error.
func (r *Replica) Watch(id RequestID, w Watch) {
	if r.readableFor(w.Partition, w.Isolation) > w.wakesAbove() || r.leader == nil || r.checkLeaderEpoch(w.Partition.CurrentLeaderEpoch) != 0 {
		r.wake(watch{id: id, Watch: w})
		return
	}
	if w.Fetcher != 0 {
		r.dropWatchOf(w.Fetcher)
	}
	if len(r.watches) >= maxWatches {
		r.countWatch(r.watches[0], -1)
		r.wake(r.watches[0])
		r.watches = r.watches[1:]
	}
	r.watches = append(r.watches, watch{id: id, Watch: w})
	r.countWatch(r.watches[len(r.watches)-1], 1)
}

// dropWatchOf drops the watch of fetcher, if one is parked: it is told
// expired, so the shell forgets it without waking its Fetch.
func (r *Replica) dropWatchOf(fetcher uint64) {
	for i, w := range r.watches {
		if w.Fetcher == fetcher {
			r.countWatch(w, -1)
			r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: w.id, Expired: true})
			r.watches = append(r.watches[:i], r.watches[i+1:]...)
			return
		}
	}
}

// countWatch keeps followerWatches as watches of followers come and go.
func (r *Replica) countWatch(w watch, delta int) {
	if w.Partition.Follower != nil {
		r.followerWatches += delta
	}
}

// wake answers a watch whose records came.
func (r *Replica) wake(w watch) {
	if w.ReadOnWake {
		r.Fetch(w.id, w.Partition, w.Isolation)
		return
	}
	r.ready.Woken = append(r.ready.Woken, WatchWoken{ID: w.id})
}

// ListOffsetsRequest is one partition of a ListOffsets request.
type ListOffsetsRequest struct {
	// TimestampMs is a timestamp, or one of the special values: -1 latest,
	// -2 earliest, -3 max timestamp, -4 earliest local, -5 latest tiered,
	// -6 earliest pending upload.
	TimestampMs        int64
	CurrentLeaderEpoch int32
	IsolationLevel     IsolationLevel
}

// ListOffsets resolves one partition of a ListOffsets request: the leader
// epoch check (KIP-320), NOT_LEADER_OR_FOLLOWER on a follower, then -2 and -4 (earliest, earliest local: the log
// start offset), -1 (latest: the high watermark; read_committed: the last
// stable offset), -5 and -6 (nothing is tiered: no offset, as Kafka answers
// without remote storage) at once; -3 and timestamps through the log's time
// index (LookupTimestamp, then TimestampLookedUp).
func (r *Replica) ListOffsets(id RequestID, req ListOffsetsRequest) {
	rep := ListOffsetsReply{ID: id, TimestampMs: -1, Offset: -1, LeaderEpoch: r.partition.LeaderEpoch}
	switch ts := req.TimestampMs; {
	case r.checkLeaderEpoch(req.CurrentLeaderEpoch) != 0:
		rep.ErrorCode, rep.LeaderEpoch = r.checkLeaderEpoch(req.CurrentLeaderEpoch), -1
	case r.leader == nil:
		rep.ErrorCode, rep.LeaderEpoch = kerr.NotLeaderForPartition.Code, -1
	case ts == -2 || ts == -4:
		rep.Offset = r.state.LogStartOffset
	case ts == -1:
		rep.Offset = r.readableBelow(req.IsolationLevel)
	case ts == -5 || ts == -6:
		rep.LeaderEpoch = -1
	case ts == -3 || ts >= 0:
		r.lookingUp[id] = req
		r.ready.Lookups = append(r.ready.Lookups, LookupTimestamp{ID: id, TimestampMs: ts, MaxTimestamp: ts == -3})
		return
	default:
		rep.ErrorCode = kerr.InvalidRequest.Code
	}
	r.ready.ListOffsetsReplies = append(r.ready.ListOffsetsReplies, rep)
}

// TimestampLookedUp reports the outcome of a LookupTimestamp. An offset at or
// past the high watermark (read_committed: the last stable offset) is not
// visible yet, so the answer is no offset.
func (r *Replica) TimestampLookedUp(id RequestID, to logstore.TimestampOffset, found bool, err error) {
	req, ok := r.lookingUp[id]
	if !ok {
		panic(fmt.Sprintf("replica: timestamp lookup completion for unknown request %d", id))
	}
	delete(r.lookingUp, id)
	rep := ListOffsetsReply{ID: id, TimestampMs: -1, Offset: -1, LeaderEpoch: r.partition.LeaderEpoch}
	if err != nil {
		rep.ErrorCode, _ = r.storageErrorCode(err)
	} else if found && to.Offset < r.readableBelow(req.IsolationLevel) {
		rep.Offset, rep.TimestampMs = to.Offset, to.TimestampMs
	}
	r.ready.ListOffsetsReplies = append(r.ready.ListOffsetsReplies, rep)
}

// DeleteRecords serves one partition of a DeleteRecords request at time
// now: offset (-1: the high watermark) must not pass the high watermark; the
// log start offset is raised to it (AdvanceLogStart, then LogStartAdvanced)
// unless already there, and the answer waits, up to timeoutMs, for the
// followers' log start offsets to reach it too (replica_delete.go).
//
// A follower answers NOT_LEADER_OR_FOLLOWER.
func (r *Replica) DeleteRecords(id RequestID, offset int64, timeoutMs int32, now Instant) {
	r.observe(now)
	if offset == -1 {
		offset = r.highWatermark
	}
	switch {
	case r.leader == nil:
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, DeleteRecordsReply{ID: id, ErrorCode: kerr.NotLeaderForPartition.Code, LowWatermark: -1})
	case offset < 0 || offset > r.highWatermark:
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, DeleteRecordsReply{ID: id, ErrorCode: kerr.OffsetOutOfRange.Code, LowWatermark: -1})
	case offset <= r.state.LogStartOffset:
		r.awaitLowWatermark(deleteRecords{id: id, offset: offset, deadlineMs: now.MonoMs + int64(max(timeoutMs, 0))})
	default:
		r.advancing[id] = deleteRecords{id: id, offset: offset, deadlineMs: now.MonoMs + int64(max(timeoutMs, 0))}
		r.ready.LogStartAdvances = append(r.ready.LogStartAdvances, AdvanceLogStart{ID: id, Offset: offset})
	}
}

// LogStartAdvanced reports the outcome of an AdvanceLogStart: the log start
// offset after it, or the error.
func (r *Replica) LogStartAdvanced(id RequestID, logStartOffset int64, err error) {
	d, ok := r.advancing[id]
	if !ok {
		panic(fmt.Sprintf("replica: log start completion for unknown request %d", id))
	}
	delete(r.advancing, id)
	if err != nil {
		code, _ := r.storageErrorCode(err)
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, DeleteRecordsReply{ID: id, ErrorCode: code, LowWatermark: -1})
		return
	}
	r.raiseLogStartOffset(logStartOffset)
	if r.leader == nil {
		r.ready.DeleteRecordsReplies = append(r.ready.DeleteRecordsReplies, DeleteRecordsReply{ID: id, ErrorCode: kerr.NotLeaderForPartition.Code, LowWatermark: -1})
		return
	}
	r.awaitLowWatermark(d)
}

// storageErrorCode is the one place a log error becomes a Kafka error code: a
// kerr error keeps its code (OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE for a bad
// batch, ...); a corrupt log, or one that failed earlier (logstore.ErrFailed),
// is KAFKA_STORAGE_ERROR and fatal (Ready.Fatal: a retry cannot cure it, so
// the partition goes offline); any other I/O error is KAFKA_STORAGE_ERROR.
// nil is 0.
func (r *Replica) storageErrorCode(err error) (code int16, fatal bool) {
	if err == nil {
		return 0, false // before ke, which escapes: no allocation per read
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code, false
	case errors.Is(err, logstore.ErrCorruption), errors.Is(err, logstore.ErrFailed):
		// A failed log takes no write until reopened: offline, the
		// replica's directory is reported offline and the leadership
		// moves, instead of every write being refused until a restart.
		if r.ready.Fatal == nil {
			r.ready.Fatal = err
		}
		return kerr.KafkaStorageError.Code, true
	}
	return kerr.KafkaStorageError.Code, false
}

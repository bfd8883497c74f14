package cluster

import (
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The leader role: what a leader knows of its followers, the high watermark
// it computes from them, and the ISR changes it asks the controller for
// (Kafka's Partition, Replica and AlterPartitionManager).

// leaderState is the leader role's state.
type leaderState struct {
	// followers are the other replicas' fetch progress, by broker id.
	followers map[int32]*followerProgress
	// followerIDs are the keys of followers in order, for iterating them
	// in an order of their own without sorting (and allocating) on every
	// high-watermark step; nil until first asked after a change.
	followerIDs []int32
	// epochStartOffset is where the current leader epoch started: a
	// follower joins the ISR only once its log end offset reaches it (it
	// fetched in this epoch, S6). epochStartPending says it is not known
	// yet (log work is in flight): no produce is taken until it is.
	epochStartOffset  int64
	epochStartPending bool
	// isrChange is the ISR change asked of the controller and not yet
	// settled; at most one at a time.
	isrChange *isrChange
	// alterSeq numbers AlterPartition requests.
	alterSeq uint64
	// isrRetryAfterMs is when an ISR change may be asked again after the
	// controller did not make one (OPERATION_NOT_ATTEMPTED,
	// INELIGIBLE_REPLICA: say a follower whose broker the controller
	// fenced before this replica heard of it): expansions are driven by
	// fetches and shrinks by a deadline already past, so either would
	// otherwise be asked again at once, as fast as the controller answers.
	// Brokers the image says are ineligible (SetIneligibleReplicas) are
	// not asked for at all, as Kafka checks its metadata cache first.
	isrRetryAfterMs int64
	// alterFailures counts the AlterPartition requests in a row that got
	// no answer from a controller (no active controller, a timeout): the
	// wait before the next doubles with each (alterRetryBackoffMs), so a
	// leader does not ask every AlterPartitionRetryBackoffMs while the
	// metadata quorum has no leader. Any controller's answer resets it,
	// as does a record of a new leader or partition epoch.
	alterFailures int
}

// followerProgress is a leader's view of one follower (Kafka's ReplicaState).
type followerProgress struct {
	// logEndOffset is the follower's log end offset: the offset of its
	// last fetch in this leadership, -1 before any.
	logEndOffset int64
	// logStartOffset is the follower's log start offset, -1 before any.
	logStartOffset int64
	// lastFetchLeaderLogEndOffset and lastFetchTimeMs are the leader's log
	// end offset and the time at the follower's previous fetch.
	lastFetchLeaderLogEndOffset int64
	lastFetchTimeMs             int64
	// lastCaughtUpTimeMs is the latest time t such that the follower's
	// latest fetch offset is at or past the leader's log end offset at t:
	// the follower lags by no more than now minus it.
	lastCaughtUpTimeMs int64
	// brokerEpoch is the broker epoch of the follower's fetches, -1 when
	// unknown.
	brokerEpoch int64
}

// reset starts a follower's progress afresh when this replica begins to lead
// (newLeader) or leads a new epoch, as Kafka's resetReplicaState: an ISR
// member counts as caught up now, any other as never; a new leader knows
// nothing of the follower's log, a re-elected one keeps what it knew.
func (f *followerProgress) reset(nowMs, leaderLogEndOffset int64, newLeader, inSync bool) {
	caughtUp := int64(neverMs)
	if inSync {
		caughtUp = nowMs
	}
	if newLeader {
		*f = followerProgress{logEndOffset: -1, logStartOffset: -1, lastFetchLeaderLogEndOffset: -1,
			lastFetchTimeMs: neverMs, lastCaughtUpTimeMs: caughtUp, brokerEpoch: -1}
		return
	}
	f.lastFetchLeaderLogEndOffset = leaderLogEndOffset
	f.lastFetchTimeMs = neverMs
	if inSync {
		f.lastFetchTimeMs = nowMs
	}
	f.lastCaughtUpTimeMs = caughtUp
}

// caughtUp is Kafka's isCaughtUp: the follower is at the leader's log end
// offset, or was within the last replica.lag.time.max.ms.
func (f *followerProgress) caughtUp(leaderLogEndOffset, nowMs, maxLagMs int64) bool {
	return f.logEndOffset == leaderLogEndOffset || nowMs-f.lastCaughtUpTimeMs <= maxLagMs
}

// newFollowerProgress is the progress of a follower this leader has not
// heard from.
func newFollowerProgress() *followerProgress {
	return &followerProgress{logEndOffset: -1, logStartOffset: -1, lastFetchLeaderLogEndOffset: -1,
		lastFetchTimeMs: neverMs, lastCaughtUpTimeMs: neverMs, brokerEpoch: -1}
}

// syncFollowers keeps one progress per replica other than self: new replicas
// start unknown, removed ones go.
func (l *leaderState) syncFollowers(replicas []int32, self int32) {
	l.followerIDs = nil
	for id := range l.followers {
		if !slices.Contains(replicas, id) {
			delete(l.followers, id)
		}
	}
	for _, id := range replicas {
		if id != self && l.followers[id] == nil {
			l.followers[id] = newFollowerProgress()
		}
	}
}

// sortedFollowerIDs are the followers' broker ids in increasing order;
// callers only read the slice.
func (l *leaderState) sortedFollowerIDs() []int32 {
	if l.followerIDs != nil && len(l.followerIDs) == len(l.followers) {
		return l.followerIDs
	}
	ids := make([]int32, 0, len(l.followers))
	for id := range l.followers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	l.followerIDs = ids
	return ids
}

// isrChange is an ISR change asked of the controller (Kafka's
// PendingExpandIsr and PendingShrinkIsr).
type isrChange struct {
	req AlterPartitionRequest
	// expand says the change adds a replica: the high watermark counts the
	// larger ISR at once (it is the stricter); a shrink counts only once
	// the controller settled it.
	expand bool
	// inFlight says the request is with the shell; otherwise it is sent
	// again at retryAtMs.
	inFlight  bool
	retryAtMs int64
}

// AlterPartitionRequest asks the controller, through the shell, to set the
// partition's ISR (Kafka's AlterPartition, one partition): valid only while
// the leader epoch and partition epoch are still the controller's.
// BrokerEpochs are the ISR members' broker epochs as their fetches gave them
// (AlterPartition v3+ NewIsrWithEpochs), -1 where unknown and for this
// broker, whose own the shell fills in. The shell adds the topic id and
// this broker, and reports the answer with AlterPartitionCompleted and Seq.
type AlterPartitionRequest struct {
	Seq            uint64
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
	BrokerEpochs   []int64
}

// AlterPartitionResult is the controller's answer to an AlterPartition for
// this partition: an error, or the partition's leader epoch, partition epoch
// and ISR after it. A request that failed in transport (timeout,
// disconnection, NOT_CONTROLLER) is reported with a retriable code such as
// REQUEST_TIMED_OUT.
type AlterPartitionResult struct {
	Seq            uint64
	ErrorCode      int16
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// maximalISR is the ISR the high watermark and acks=all wait for: the
// committed one, plus the replica a pending expansion adds (KIP-497).
func (r *Replica) maximalISR() []int32 {
	if l := r.leader; l != nil && l.isrChange != nil && l.isrChange.expand {
		return l.isrChange.req.ISR
	}
	return r.partition.ISR
}

// effectiveMinISR is min.insync.replicas, bounded by the replication factor
// (Kafka's effectiveMinIsr): the high watermark of a partition with fewer
// replicas than min.insync.replicas still advances.
func (r *Replica) effectiveMinISR() int {
	return min(r.cfg.MinInsyncReplicas, max(len(r.partition.Replicas), 1))
}

// highWatermarkCandidate is where a leader's high watermark may go: the
// minimum log end offset over the maximal ISR and the followers caught up
// enough to join it (which the high watermark waits for, so that a follower
// can catch up with it at all: Kafka's shouldWaitForReplicaToJoinIsr), the
// leader's own being its log end offset (its flushed offset with a durable
// high watermark). It is the current high watermark while the ISR is below
// min.insync.replicas (KIP-966).
func (r *Replica) highWatermarkCandidate() int64 {
	hw := r.state.LogEndOffset
	if r.cfg.DurableHighWatermark {
		hw = min(hw, r.state.FlushedOffset)
	}
	l := r.leader
	if l == nil || len(r.partition.ISR) < r.effectiveMinISR() {
		return r.highWatermark
	}
	maximal := r.maximalISR()
	for _, id := range l.sortedFollowerIDs() {
		f := l.followers[id]
		if f.logEndOffset < hw && (slices.Contains(maximal, id) || r.shouldWaitToJoinISR(id, f)) {
			hw = f.logEndOffset
		}
	}
	return hw
}

// shouldWaitToJoinISR says whether the high watermark waits for a follower
// outside the ISR: it is caught up and may join the ISR (Kafka's
// shouldWaitForReplicaToJoinIsr with isReplicaIsrEligible). A fenced broker
// may not: without that check, a leader whose follower died keeps waiting
// for it for replica.lag.time.max.ms after the controller has fenced it and
// taken it out of the ISR, and acks=all stalls that long. Nor may a broker
// whose fetches the leader last saw came from an earlier incarnation
// (currentIncarnation).
func (r *Replica) shouldWaitToJoinISR(id int32, f *followerProgress) bool {
	return !r.ineligibleReplica(id) && r.currentIncarnation(id, f) && f.caughtUp(r.state.LogEndOffset, r.nowMs, r.opts.ReplicaLagTimeMaxMs)
}

// currentIncarnation says whether the leader's record of a follower may
// stand for its broker as registered now (Kafka's isBrokerEpochIsrEligible):
// the follower fetched in this leadership (a new leader knows nothing of it,
// as Kafka's unset broker epoch), and its fetches carried the broker epoch
// the image gives the broker, or none (-1: a fetch that did not say), or
// the replica was not told the image's epochs.
//
// A broker that was killed and started again registers anew, with a new
// epoch, and is unfenced once it caught up with the metadata; the leader's
// record of its replica is still that of its last fetch before the kill,
// caught up a moment ago. Counted, that record would make the high
// watermark wait for the replica from the moment its broker is unfenced
// until the restarted broker, which opens all of its partitions' logs,
// fetches this one: every acks=all write to the partition would stall that
// long (1.5-2.2 s on a node holding 540 partitions).
func (r *Replica) currentIncarnation(id int32, f *followerProgress) bool {
	if f.logEndOffset < 0 {
		return false
	}
	if f.brokerEpoch < 0 || r.brokerEpochs == nil {
		return true
	}
	epoch, ok := r.brokerEpochs[id]
	return ok && epoch == f.brokerEpoch
}

// ineligibleReplica says whether broker id may join no ISR now.
func (r *Replica) ineligibleReplica(id int32) bool {
	_, found := slices.BinarySearch(r.ineligible, id)
	return found
}

// SetIneligibleReplicas tells the replica which brokers the metadata image
// says may join no ISR at time now: fenced brokers and brokers in controlled
// shutdown (Kafka's isReplicaIsrEligible). A leader neither waits for them to
// join the ISR before it advances the high watermark nor asks to add them;
// the high watermark may advance at once. Every broker is eligible until
// this is called. brokerEpochs are the registered brokers' epochs in the
// same image, by id (nil if unknown): nor does the high watermark wait for
// a follower whose latest fetch came from an earlier incarnation of its
// broker (currentIncarnation).
//
// A follower whose broker becomes eligible is asked for at once when the
// leader's record of it says it is in sync (maybeExpandISRAtEligible), not
// only at its next fetch, up to replica.fetch.wait.max.ms later.
func (r *Replica) SetIneligibleReplicas(ids []int32, brokerEpochs map[int32]int64, now Instant) {
	r.observe(now)
	ineligible := slices.Compact(slices.Sorted(slices.Values(ids)))
	changed := !slices.Equal(ineligible, r.ineligible) || !maps.Equal(brokerEpochs, r.brokerEpochs)
	was := r.ineligible
	r.ineligible, r.brokerEpochs = ineligible, brokerEpochs
	if !changed || r.leader == nil {
		return
	}
	for _, id := range was {
		if !r.ineligibleReplica(id) {
			r.maybeExpandISRAtEligible(id, brokerEpochs)
		}
	}
	r.advanceHighWatermark()
}

// maybeExpandISRAtEligible asks to add a follower whose broker just became
// eligible when the leader's record of it says it is in sync, as its next
// fetch would: its latest fetch, of this leader epoch (progress is reset at
// each epoch) and within replica.lag.time.max.ms, reached the high watermark
// and the epoch's start; and it came from the broker's current incarnation
// (its broker epoch is the image's): the controller refuses a replica
// whose fetches were of an earlier incarnation (KIP-903; INELIGIBLE_REPLICA,
// then a backoff), which may have restarted with less of the log.
func (r *Replica) maybeExpandISRAtEligible(id int32, brokerEpochs map[int32]int64) {
	f := r.leader.followers[id]
	if f == nil || f.brokerEpoch < 0 || f.brokerEpoch != brokerEpochs[id] ||
		f.lastFetchTimeMs == neverMs || r.nowMs-f.lastFetchTimeMs > r.opts.ReplicaLagTimeMaxMs {
		return
	}
	r.maybeExpandISR(id)
}

// followerFetched records a follower's fetch at offset fetchOffset at nowMs
// (Kafka's updateFetchStateOrThrow): its log end offset is the fetch
// offset, and it caught up at this fetch if the offset reaches the leader's
// log end offset, or at its previous fetch if it reaches the leader's log end
// offset then. The ISR may then grow, and the high watermark advance.
//
// The first fetch of a new incarnation of a follower's broker outside the
// ISR (its broker epoch is not the one the leader recorded) starts its
// catching up afresh: the earlier incarnation's says nothing of a process
// that started again from what its log kept (Kafka keeps it, and the high
// watermark then waits for the restarted follower from its first fetch, as
// for one that lags by no more than replica.lag.time.max.ms, until a later
// fetch of it reaches the leader's log end offset: on a broker that opens
// hundreds of partitions' logs at its start, seconds of stalled acks=all
// writes). It counts as caught up once a fetch of its own reaches the
// leader's log end offset, now or at its previous fetch.
func (r *Replica) followerFetched(ff *FollowerFetch, fetchOffset int64) {
	l := r.leader
	id, logStartOffset, nowMs := ff.ReplicaID, ff.LogStartOffset, ff.FetchedAtMs
	f := l.followers[id]
	if f.brokerEpoch >= 0 && ff.BrokerEpoch >= 0 && ff.BrokerEpoch != f.brokerEpoch && !slices.Contains(r.partition.ISR, id) {
		f.lastCaughtUpTimeMs, f.lastFetchTimeMs, f.lastFetchLeaderLogEndOffset = neverMs, neverMs, -1
	}
	f.brokerEpoch = ff.BrokerEpoch
	leo := r.state.LogEndOffset
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUpTimeMs = max(f.lastCaughtUpTimeMs, nowMs)
	case fetchOffset >= f.lastFetchLeaderLogEndOffset:
		f.lastCaughtUpTimeMs = max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs)
	}
	f.logEndOffset, f.logStartOffset = fetchOffset, logStartOffset
	f.lastFetchLeaderLogEndOffset = max(leo, f.lastFetchLeaderLogEndOffset)
	f.lastFetchTimeMs = nowMs
	r.maybeExpandISR(id)
	r.advanceHighWatermark()
}

// maybeExpandISR asks to add a follower to the ISR once it reached the high
// watermark with records of the current leader epoch (Kafka's
// isFollowerInSync; S6), unless an ISR change is pending.
//
// Beyond Kafka, the follower must also have reported a log start offset at
// or past the leader's: a DeleteRecords answered while it was out of the
// ISR on a fenced broker did not wait for it (lowWatermark), and until it
// learns the raised log start from a fetch answer (which a leader may hold
// for replica.fetch.wait.max.ms when nothing is new) it holds the deleted
// records. In the ISR it could be elected (a preferred-leader election
// moves leadership to a preferred replica as soon as it joins) and serve
// them again (the simulator's S13, seed 11613018 of its deleterecords
// profile on 5 nodes). It joins at its next fetch instead.
func (r *Replica) maybeExpandISR(id int32) {
	l := r.leader
	f := l.followers[id]
	if l.isrChange != nil || l.epochStartPending || r.nowMs < l.isrRetryAfterMs || slices.Contains(r.partition.ISR, id) || r.ineligibleReplica(id) ||
		f.logEndOffset < r.highWatermark || f.logEndOffset < l.epochStartOffset || f.logStartOffset < r.state.LogStartOffset {
		return
	}
	r.proposeISR(sortedISR(append(slices.Clone(r.partition.ISR), id)), true)
}

// maybeShrinkISR asks to drop from the ISR the followers that have not caught
// up within replica.lag.time.max.ms, unless an ISR change is pending (Kafka's
// maybeShrinkIsr).
func (r *Replica) maybeShrinkISR(nowMs int64) {
	l := r.leader
	if l.isrChange != nil || nowMs < l.isrRetryAfterMs {
		return
	}
	var out []int32
	for _, id := range r.partition.ISR {
		if id == r.opts.NodeID {
			continue
		}
		if f := l.followers[id]; f == nil || !f.caughtUp(r.state.LogEndOffset, nowMs, r.opts.ReplicaLagTimeMaxMs) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return
	}
	isr := slices.DeleteFunc(slices.Clone(r.partition.ISR), func(id int32) bool { return slices.Contains(out, id) })
	r.proposeISR(isr, false)
}

// proposeISR asks the controller for a new ISR.
func (r *Replica) proposeISR(isr []int32, expand bool) {
	l := r.leader
	l.alterSeq++
	epochs := make([]int64, len(isr))
	for i, id := range isr {
		epochs[i] = -1
		if f := l.followers[id]; f != nil {
			epochs[i] = f.brokerEpoch
		}
	}
	l.isrChange = &isrChange{expand: expand, inFlight: true, req: AlterPartitionRequest{Seq: l.alterSeq,
		LeaderEpoch: r.partition.LeaderEpoch, PartitionEpoch: r.partition.PartitionEpoch, ISR: isr, BrokerEpochs: epochs}}
	r.sendAlterPartition()
}

// sendAlterPartition hands the pending ISR change to the shell (a copy: the
// shell may keep it).
func (r *Replica) sendAlterPartition() {
	if a := r.alterAsked; a != nil && a != r.leader.isrChange {
		r.ready.AbandonAlterPartition = true
	}
	r.alterAsked = r.leader.isrChange
	req := r.alterAsked.req
	req.ISR, req.BrokerEpochs = slices.Clone(req.ISR), slices.Clone(req.BrokerEpochs)
	r.ready.AlterPartition = &req
}

// AlterPartitionCompleted reports the controller's answer to an
// AlterPartition (Kafka's handleAlterPartitionUpdate and
// handleAlterPartitionError). An answer to a request the replica no longer
// waits for (a newer record settled it) changes nothing. On success for the
// current leader epoch and a partition epoch not older than the replica's,
// the answer's ISR becomes the committed one. OPERATION_NOT_ATTEMPTED and
// INELIGIBLE_REPLICA drop the change (the controller says it was not made;
// a change is asked again only after the backoff);
// errors saying the replica's metadata is stale keep it pending until the
// next record; any other error (no controller answered: the shell reports
// a transport failure as REQUEST_TIMED_OUT) asks again after a backoff that
// doubles with each such failure in a row (alterRetryBackoffMs).
func (r *Replica) AlterPartitionCompleted(res AlterPartitionResult, now Instant) {
	r.observe(now)
	l := r.leader
	if l == nil || l.isrChange == nil || !l.isrChange.inFlight || l.isrChange.req.Seq != res.Seq {
		return
	}
	ch := l.isrChange
	ch.inFlight = false
	if r.alterAsked == ch {
		r.alterAsked = nil // answered: nothing to stop
	}
	// A controller decided, unless the default case says otherwise.
	failures := l.alterFailures
	l.alterFailures = 0
	switch res.ErrorCode {
	case 0:
		if res.LeaderEpoch != r.partition.LeaderEpoch || res.PartitionEpoch < r.partition.PartitionEpoch {
			return // stale: wait for the next record
		}
		r.partition.ISR = sortedISR(res.ISR)
		r.partition.PartitionEpoch = res.PartitionEpoch
		l.isrChange = nil
		r.advanceHighWatermark()
	case kerr.OperationNotAttempted.Code, kerr.IneligibleReplica.Code:
		l.isrRetryAfterMs = now.MonoMs + r.opts.AlterPartitionRetryBackoffMs
		l.isrChange = nil
		r.advanceHighWatermark()
	case kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code, kerr.FencedLeaderEpoch.Code,
		kerr.InvalidUpdateVersion.Code, kerr.InvalidRequest.Code, kerr.NewLeaderElected.Code:
		// Pending until the next record.
	default:
		l.alterFailures = failures + 1
		ch.retryAtMs = now.MonoMs + r.alterRetryBackoffMs()
	}
}

// alterRetryBackoffMs is the wait before a failed AlterPartition is sent
// again: AlterPartitionRetryBackoffMs after the first failure in a row,
// doubling with each further one up to AlterPartitionRetryBackoffMaxMs
// (Kafka's retry.backoff.ms and retry.backoff.max.ms, without the jitter,
// which would need randomness the core does not have).
func (r *Replica) alterRetryBackoffMs() int64 {
	backoff, limit := r.opts.AlterPartitionRetryBackoffMs, r.opts.AlterPartitionRetryBackoffMaxMs
	for i := 1; i < r.leader.alterFailures && backoff < limit; i++ {
		backoff *= 2
	}
	return min(backoff, limit)
}

// tickLeader runs the leader's timed work: a failed AlterPartition is sent
// again when due, lagging followers leave the ISR, and the high watermark
// stops waiting for followers that are no longer caught up.
func (r *Replica) tickLeader(now Instant) {
	l := r.leader
	if ch := l.isrChange; ch != nil && !ch.inFlight && ch.retryAtMs > 0 && now.MonoMs >= ch.retryAtMs {
		ch.inFlight, ch.retryAtMs = true, 0
		r.sendAlterPartition()
	}
	r.maybeShrinkISR(now.MonoMs)
	r.advanceHighWatermark()
}

// leaderDeadlineMs is when the leader's timed work is next due: a failed
// AlterPartition sent again, an ISR member falling out of sync (it then
// leaves the ISR, unless an ISR change is pending), a follower outside the
// ISR falling out of sync (the high watermark then stops waiting for it).
// A deadline that passed counts only while Tick would act on it, so the
// shell never spins on one.
func (r *Replica) leaderDeadlineMs() int64 {
	l := r.leader
	next := int64(math.MaxInt64)
	if ch := l.isrChange; ch != nil && !ch.inFlight && ch.retryAtMs > 0 {
		next = ch.retryAtMs
	}
	maximal := r.maximalISR()
	for _, id := range l.sortedFollowerIDs() {
		f := l.followers[id]
		if f.logEndOffset == r.state.LogEndOffset {
			continue
		}
		outOfSyncMs := int64(math.MinInt64)
		if f.lastCaughtUpTimeMs != neverMs {
			outOfSyncMs = f.lastCaughtUpTimeMs + r.opts.ReplicaLagTimeMaxMs + 1
		}
		switch {
		case slices.Contains(r.partition.ISR, id):
			if l.isrChange == nil {
				next = min(next, max(outOfSyncMs, l.isrRetryAfterMs))
			}
		case !slices.Contains(maximal, id) && outOfSyncMs > r.nowMs:
			next = min(next, outOfSyncMs)
		}
	}
	return next
}

// FollowerProgress is what a leader knows of one follower, for tests,
// metrics and invariant checks.
type FollowerProgress struct {
	ReplicaID          int32
	LogEndOffset       int64
	LogStartOffset     int64
	LastCaughtUpTimeMs int64
	InSync             bool
}

// Followers lists a leader's view of its followers by broker id (nil when
// following).
func (r *Replica) Followers() []FollowerProgress {
	if r.leader == nil {
		return nil
	}
	var out []FollowerProgress
	for _, id := range r.leader.sortedFollowerIDs() {
		f := r.leader.followers[id]
		out = append(out, FollowerProgress{ReplicaID: id, LogEndOffset: f.logEndOffset, LogStartOffset: f.logStartOffset,
			LastCaughtUpTimeMs: f.lastCaughtUpTimeMs, InSync: slices.Contains(r.partition.ISR, id)})
	}
	return out
}

// PendingISR is the ISR a leader asked the controller for and is waiting on,
// or nil.
func (r *Replica) PendingISR() []int32 {
	if r.leader == nil || r.leader.isrChange == nil {
		return nil
	}
	return r.leader.isrChange.req.ISR
}

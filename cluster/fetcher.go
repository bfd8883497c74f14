package cluster

import (
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FetcherConfig is what a fetcher needs to build its requests (Kafka's
// replica.fetch.* settings).
type FetcherConfig struct {
	// NodeID is this broker: the replica id of every request.
	NodeID int32
	// BrokerEpoch is this broker's epoch (its registration's), sent with
	// Fetch v15+ so that a leader can tell a restarted broker's requests
	// from a zombie's; -1 when unknown.
	BrokerEpoch int64
	// Leader is the broker the fetcher fetches from.
	Leader int32
	// MaxWaitMs is replica.fetch.wait.max.ms; zero means
	// DefaultReplicaFetchWaitMaxMs.
	MaxWaitMs int32
	// MinBytes is replica.fetch.min.bytes; zero means 1.
	MinBytes int32
	// MaxBytes is replica.fetch.response.max.bytes; zero means
	// DefaultReplicaFetchResponseMaxBytes.
	MaxBytes int32
	// PartitionMaxBytes is replica.fetch.max.bytes; zero means
	// DefaultReplicaFetchMaxBytes.
	PartitionMaxBytes int32
	// BackoffMs is replica.fetch.backoff.ms: how long a partition whose
	// request failed waits before the next; zero means
	// DefaultReplicaFetchBackoffMs.
	BackoffMs int64
	// OutcomeWaitMs bounds how long the next Fetch waits for the
	// partitions handed an outcome to publish their next state, so that
	// they go in it (as Kafka's fetcher thread appends what it fetched
	// before it fetches again: a partition left out of a Fetch parked at
	// the leader would wait for that Fetch to end); zero means
	// DefaultReplicaFetchOutcomeWaitMs.
	OutcomeWaitMs int64
	// LeaderBehindBackoffMs is how long a partition waits, instead of
	// BackoffMs, after its leader answered UNKNOWN_LEADER_EPOCH: the
	// leader has not applied the leader change this follower applied,
	// and will within a metadata round trip (a failover would otherwise
	// wait a whole BackoffMs for it); zero means
	// DefaultLeaderBehindBackoffMs.
	LeaderBehindBackoffMs int64
	// UnknownTopicBackoffMs is how long a partition waits, instead of
	// BackoffMs, after its leader answered UNKNOWN_TOPIC_ID or
	// UNKNOWN_TOPIC_OR_PARTITION: the leader has not applied the creation
	// of a topic this follower applied, and will within a metadata round
	// trip (the first records of a new topic would otherwise wait a whole
	// BackoffMs); zero means BackoffMs, as in Kafka's fetcher.
	UnknownTopicBackoffMs int64
	// PromptFetchGapMs, when above zero, keeps a partition new to the
	// fetcher from waiting for the Fetch in flight: that Fetch, which the
	// leader parks up to MaxWaitMs when its partitions have nothing new,
	// is given up (FetcherReady.AbandonFetch) and a new one sent with
	// every partition, once PromptFetchGapMs passed since it was sent. The
	// gap doubles with each Fetch given up in a row, up to half of
	// MaxWaitMs, and is PromptFetchGapMs again once a Fetch is answered:
	// partitions that come one by one (a node opening its logs, a topic of
	// many partitions created) gave up a Fetch, and opened a connection,
	// every PromptFetchGapMs until the last came (187 in the first two
	// seconds of a 200-partition topic on three nodes). A partition is
	// new once added, and again with a new leader epoch, until an answer
	// other than the leader's "not applied yet" errors (UNKNOWN_TOPIC_ID,
	// UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_LEADER_EPOCH). Without it an
	// acks=all produce to a fresh topic, or after a leader moved, waited
	// up to MaxWaitMs for its followers' first fetch. A partition late for
	// a Fetch (handed an outcome, it had not published its next state
	// when OutcomeWaitMs ended and the Fetch was built without it) does
	// not wait for that Fetch either, until it goes into one: else its
	// acks=all produces waited up to MaxWaitMs for each append that took
	// longer than OutcomeWaitMs (a leader's high watermark stuck below its
	// log end while the follower's Fetch was parked on the leader's other
	// partitions). Zero keeps Kafka's behaviour: the partition waits for
	// the answer.
	PromptFetchGapMs int64
	// Sessions asks the leader for a fetch session (KIP-227, Fetch v7+):
	// once the leader opened one, a Fetch lists only the partitions whose
	// position changed since the last (the others stay in the leader's
	// session as they were; those no longer fetching are forgotten), and
	// the answer carries only the partitions with news. Without it every
	// Fetch is full (session id 0, epoch -1).
	Sessions bool
}

// Kafka's defaults for the replica.fetch.* settings, and gregor's for its
// fetcher's own waits (OutcomeWaitMs, LeaderBehindBackoffMs,
// PromptFetchGapMs).
const (
	DefaultReplicaFetchWaitMaxMs        = 500
	DefaultReplicaFetchResponseMaxBytes = 10 << 20
	DefaultReplicaFetchMaxBytes         = 1 << 20
	DefaultReplicaFetchBackoffMs        = 1000
	DefaultReplicaFetchOutcomeWaitMs    = 100
	DefaultLeaderBehindBackoffMs        = 50
	// DefaultPromptFetchGapMs is the gap the broker's fetchers use for
	// FetcherConfig.PromptFetchGapMs: a fresh partition waits at most
	// that long for its first Fetch, and a fetcher opens at most one new
	// connection per gap for them.
	DefaultPromptFetchGapMs = 20
)

// FetcherPartition names a partition in a fetcher's requests: by name (Fetch
// before v13, OffsetForLeaderEpoch) and by topic id (Fetch v13+).
type FetcherPartition struct {
	Topic     string
	TopicID   TopicID
	Partition int32
}

// FetcherOutcome is what the leader answered for one of the fetcher's
// partitions: hand it to the partition's replica core
// (Replica.FetchedFromLeader or Replica.EpochEndOffsetFetched).
type FetcherOutcome struct {
	Partition FetcherPartition
	// Exactly one of Fetch and EpochEnd is set.
	Fetch    *FollowerFetchOutcome
	EpochEnd *EpochEndOutcome
}

// FetcherReady is what the shell must do for a fetcher after a step: send
// the requests to the leader (the shell sets their version, pinned from the
// leader's ApiVersions), reporting each answer with FetchCompleted and
// EpochEndOffsetsCompleted, and hand the outcomes to the partitions.
type FetcherReady struct {
	// AbandonFetch says the Fetch in flight is given up
	// (FetcherConfig.PromptFetchGapMs): its answer must not reach the
	// core, and Fetch must not wait behind it (a leader answers the
	// requests of one connection in order: the shell sends it on a new
	// connection).
	AbandonFetch         bool
	Fetch                *kmsg.FetchRequest
	OffsetForLeaderEpoch *kmsg.OffsetForLeaderEpochRequest
	Outcomes             []FetcherOutcome
}

// Empty says whether there is nothing to do.
func (rd *FetcherReady) Empty() bool {
	return !rd.AbandonFetch && rd.Fetch == nil && rd.OffsetForLeaderEpoch == nil && len(rd.Outcomes) == 0
}

// Fetcher is the core of the replica fetcher for one source broker (Kafka's
// ReplicaFetcherThread): it holds the fetch states of the follower partitions
// this node fetches from that leader, builds one Fetch request for those
// fetching and one OffsetForLeaderEpoch request for those truncating (at most
// one of each in flight), turns the answers into per-partition outcomes, and
// backs off partitions whose requests failed. It decides nothing about the
// logs: the partitions' replica cores do, and publish their next state. It
// does no I/O and reads no clock.
//
// A partition is sent again only once its replica core published a newer
// state than the one an outcome was delivered for (every outcome is taken
// by the core, which then publishes), so no two requests ever ask for the
// same thing. An answer that brings nothing new (no records, no error, the
// same high watermark and log start offset) is not delivered; the partition
// goes into the next request as it is.
type Fetcher struct {
	cfg   FetcherConfig
	parts map[FetcherPartition]*fetcherEntry
	// order is the partitions in request order: a partition that got
	// records moves to the end, so that under max_bytes no partition
	// starves (as Kafka's fetcher does).
	order []*fetcherEntry

	fetchInFlight  []sentPartition
	epochsInFlight []sentPartition
	fetching       bool
	truncating     bool
	// fetchSentAtMs is when the Fetch in flight was built (monotonic).
	fetchSentAtMs int64
	// abandoned counts the Fetches given up since one was answered
	// (promptGapMs).
	abandoned int
	// outcomesWaitUntilMs is when the next Fetch stops waiting for the
	// partitions the last one handed outcomes to (monotonic).
	outcomesWaitUntilMs int64
	// nowMs is the latest monotonic time the fetcher was told.
	nowMs int64

	// The fetch session with the leader (FetcherConfig.Sessions):
	// sessionID is the leader's id for it (0: none), sessionEpoch the
	// next Fetch's epoch (0: a full fetch asking for a new session, which
	// closes sessionID's), fetchEpoch the epoch of the Fetch in flight,
	// builds counts the Fetches built (fetcherEntry.builtAt), and gone
	// holds the partitions removed while the leader's session held them
	// (the next incremental Fetch forgets them). What the session holds of
	// a partition still here is in its entry.
	sessionID    int32
	sessionEpoch int32
	fetchEpoch   int32
	builds       uint64
	gone         []FetcherPartition

	ready FetcherReady
}

// sessionPosition is what a Fetch says of a partition, as the leader's
// fetch session holds it.
type sessionPosition struct {
	currentLeaderEpoch, lastFetchedEpoch int32
	fetchOffset, logStartOffset          int64
}

type fetcherEntry struct {
	p     FetcherPartition
	state FollowerFetchState
	// deliveredSeq is the state an outcome was delivered for: the partition
	// waits for a newer one.
	deliveredSeq uint64
	inFlight     bool
	// leaderBehind says the outcome last delivered was
	// UNKNOWN_LEADER_EPOCH, or the first NOT_LEADER_OR_FOLLOWER of a fresh
	// partition (the node the follower's metadata names has not taken the
	// partition up yet: it is still applying the change, or was too busy
	// to answer in time; a second one, which ends the freshness, waits
	// the whole backoff); topicUnknown that it was UNKNOWN_TOPIC_ID or
	// UNKNOWN_TOPIC_OR_PARTITION: a backoff the next state asks for is
	// short.
	leaderBehind, topicUnknown bool
	// fresh says the partition is new to the fetcher (added, or at a new
	// leader epoch) and has had no answer but the leader's "not applied
	// yet" errors: it does not wait for a Fetch in flight without it
	// (FetcherConfig.PromptFetchGapMs).
	fresh bool
	// late says a Fetch was built without the partition while it was
	// still taking an outcome (FetcherConfig.OutcomeWaitMs ended first):
	// it does not wait for a Fetch in flight without it either, until it
	// goes into one or asks for a backoff.
	late bool
	// delayedUntilMs is when a partition backing off may be sent again
	// (monotonic).
	delayedUntilMs int64
	// lastHighWatermark and lastLogStartOffset are what the last outcome
	// delivered said, if the follower took the leader's offsets from it (-1
	// if not: an error, a diverging epoch).
	lastHighWatermark  int64
	lastLogStartOffset int64
	// relist says the next incremental Fetch lists the partition though
	// its position did not change: it is new to the fetcher, or an answer
	// for it was dropped (the leader's session counts it as told).
	relist bool
	// inSession says the leader's fetch session holds the partition, at
	// sessionPos; builtAt is the last Fetch (Fetcher.builds) it went in.
	inSession  bool
	sessionPos sessionPosition
	builtAt    uint64
}

// position is what a Fetch says of the partition, as a fetch session
// holds it.
func (e *fetcherEntry) position() sessionPosition {
	return sessionPosition{currentLeaderEpoch: e.state.CurrentLeaderEpoch, lastFetchedEpoch: e.state.LastFetchedEpoch,
		fetchOffset: e.state.FetchOffset, logStartOffset: e.state.LogStartOffset}
}

// sentPartition is a partition in a request in flight, with the state the
// request was built from.
type sentPartition struct {
	p   FetcherPartition
	seq uint64
}

// NewFetcher builds a fetcher with no partitions.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.MaxWaitMs <= 0 {
		cfg.MaxWaitMs = DefaultReplicaFetchWaitMaxMs
	}
	if cfg.MinBytes <= 0 {
		cfg.MinBytes = 1
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultReplicaFetchResponseMaxBytes
	}
	if cfg.PartitionMaxBytes <= 0 {
		cfg.PartitionMaxBytes = DefaultReplicaFetchMaxBytes
	}
	if cfg.BackoffMs <= 0 {
		cfg.BackoffMs = DefaultReplicaFetchBackoffMs
	}
	if cfg.OutcomeWaitMs <= 0 {
		cfg.OutcomeWaitMs = DefaultReplicaFetchOutcomeWaitMs
	}
	if cfg.LeaderBehindBackoffMs <= 0 {
		cfg.LeaderBehindBackoffMs = DefaultLeaderBehindBackoffMs
	}
	return &Fetcher{cfg: cfg, parts: map[FetcherPartition]*fetcherEntry{}}
}

// Ready takes the effects accumulated since the last call.
func (f *Fetcher) Ready() FetcherReady {
	rd := f.ready
	f.ready = FetcherReady{}
	return rd
}

// SetBrokerEpoch sets this broker's epoch for the requests built from now
// on: the broker registered (again) after the fetcher was made.
func (f *Fetcher) SetBrokerEpoch(epoch int64) { f.cfg.BrokerEpoch = epoch }

// Partitions is how many partitions the fetcher holds (a fetcher with none
// may stop).
func (f *Fetcher) Partitions() int { return len(f.parts) }

// SetPartition takes a partition's published fetch state at time now. A
// state for another leader, or with phase FollowerIdle, takes the partition
// out of this fetcher; a state older than the one held is ignored (states
// may arrive out of order). A state asking for a backoff delays the
// partition; a new leader epoch ends a backoff. A replica core rebuilt (its
// actor restarted) numbers its states afresh: the shell removes the
// partition (RemovePartition) before it hands on the new core's first
// state.
func (f *Fetcher) SetPartition(p FetcherPartition, st FollowerFetchState, now Instant) {
	if st.Leader != f.cfg.Leader || st.Phase == FollowerIdle {
		f.RemovePartition(p)
		f.send(now)
		return
	}
	e := f.parts[p]
	if e == nil {
		e = &fetcherEntry{p: p, lastHighWatermark: -1, lastLogStartOffset: -1, fresh: true, relist: true}
		f.parts[p] = e
		f.order = append(f.order, e)
	} else if st.Seq <= e.state.Seq {
		return
	}
	if st.CurrentLeaderEpoch != e.state.CurrentLeaderEpoch {
		e.delayedUntilMs, e.fresh = 0, true
	}
	if st.Backoff {
		e.late = false // out of the next Fetch anyway: nothing to catch up
		backoffMs := f.cfg.BackoffMs
		if e.leaderBehind {
			backoffMs = min(backoffMs, f.cfg.LeaderBehindBackoffMs)
		}
		if e.topicUnknown && f.cfg.UnknownTopicBackoffMs > 0 {
			backoffMs = min(backoffMs, f.cfg.UnknownTopicBackoffMs)
		}
		e.delayedUntilMs = now.MonoMs + backoffMs
	}
	e.leaderBehind, e.topicUnknown = false, false
	e.state = st
	f.send(now)
}

// RemovePartition forgets a partition; an answer for it in flight is
// dropped.
func (f *Fetcher) RemovePartition(p FetcherPartition) {
	e := f.parts[p]
	if e == nil {
		return
	}
	delete(f.parts, p)
	f.order = slices.DeleteFunc(f.order, func(q *fetcherEntry) bool { return q == e })
	if e.inSession {
		f.gone = append(f.gone, p)
	}
}

// Tick tells the fetcher the time: partitions whose backoff ended are sent.
func (f *Fetcher) Tick(now Instant) { f.send(now) }

// NextDeadlineMs is when a backoff ends for a partition that waits for
// nothing else, or when the next Fetch stops waiting for partitions to
// publish their states after their outcomes (monotonic), or math.MaxInt64.
// A backoff that ended already is no deadline: the partition goes into the
// next request, which the answer to the one in flight sends.
func (f *Fetcher) NextDeadlineMs() int64 {
	next := int64(math.MaxInt64)
	if !f.fetching && f.awaitingStates(f.nowMs) {
		next = f.outcomesWaitUntilMs
	}
	if f.fetching && f.promptWaiting(f.nowMs) {
		next = min(next, f.fetchSentAtMs+f.promptGapMs())
	}
	for _, e := range f.order {
		if e.delayedUntilMs > f.nowMs && !e.inFlight && e.state.Seq > e.deliveredSeq {
			next = min(next, e.delayedUntilMs)
		}
	}
	return next
}

// sendable says whether a partition may go into a request for phase now.
func (e *fetcherEntry) sendable(phase FollowerPhase, nowMs int64) bool {
	return e.state.Phase == phase && !e.inFlight && e.state.Seq > e.deliveredSeq && nowMs >= e.delayedUntilMs
}

// awaitingStates says whether the next Fetch still waits for a partition
// handed an outcome to publish its next state.
func (f *Fetcher) awaitingStates(nowMs int64) bool {
	if nowMs >= f.outcomesWaitUntilMs {
		return false
	}
	for _, e := range f.order {
		if e.deliveredSeq == e.state.Seq && !e.inFlight {
			return true
		}
	}
	return false
}

// promptWaiting says whether a fresh or late partition is ready to fetch
// but out of the Fetch in flight (FetcherConfig.PromptFetchGapMs).
func (f *Fetcher) promptWaiting(nowMs int64) bool {
	if f.cfg.PromptFetchGapMs <= 0 {
		return false
	}
	for _, e := range f.order {
		if (e.fresh || e.late) && e.sendable(FollowerFetching, nowMs) {
			return true
		}
	}
	return false
}

// promptGapMs is how long the Fetch in flight must have been out before a
// fresh or late partition gives it up: PromptFetchGapMs, doubled for each Fetch
// given up since one was answered, at most half of MaxWaitMs (and never
// below PromptFetchGapMs).
func (f *Fetcher) promptGapMs() int64 {
	gap, ceiling := f.cfg.PromptFetchGapMs, max(f.cfg.PromptFetchGapMs, int64(f.cfg.MaxWaitMs)/2)
	for i := 0; i < f.abandoned && gap < ceiling; i++ {
		gap *= 2
	}
	return min(gap, ceiling)
}

// send builds the requests there is something for and nothing in flight,
// first giving up the Fetch in flight if a fresh or late partition waits
// for it and the gap since it was sent has passed.
func (f *Fetcher) send(now Instant) {
	f.nowMs = max(f.nowMs, now.MonoMs)
	if f.fetching && now.MonoMs >= f.fetchSentAtMs+f.promptGapMs() && f.promptWaiting(now.MonoMs) {
		f.settle(f.fetchInFlight, false, now.MonoMs)
		f.fetching, f.fetchInFlight = false, nil
		f.resetSession(true) // the answer to the one given up may never come
		f.ready.AbandonFetch, f.ready.Fetch = true, nil
		f.abandoned++
	}
	if !f.fetching && !f.awaitingStates(now.MonoMs) {
		f.buildFetch(now.MonoMs)
	}
	if !f.truncating {
		f.buildEpochRequest(now.MonoMs)
	}
}

func (f *Fetcher) buildFetch(nowMs int64) {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.cfg.NodeID
	req.ReplicaState.ID, req.ReplicaState.Epoch = f.cfg.NodeID, f.cfg.BrokerEpoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = f.cfg.MaxWaitMs, f.cfg.MinBytes, f.cfg.MaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // no fetch session: every request is full
	if f.cfg.Sessions {
		req.SessionID, req.SessionEpoch = f.sessionID, f.sessionEpoch
	}
	incremental := f.cfg.Sessions && f.sessionEpoch > 0
	var sent []sentPartition
	build := f.builds + 1
	for _, e := range f.order {
		p := e.p
		if !e.sendable(FollowerFetching, nowMs) {
			// Still taking the outcome the last Fetch handed it: the
			// outcome wait ended first.
			e.late = e.late || (e.deliveredSeq == e.state.Seq && !e.inFlight)
			continue
		}
		e.inFlight, e.builtAt, e.late = true, build, false
		sent = append(sent, sentPartition{p: p, seq: e.state.Seq})
		if incremental && e.inSession && e.sessionPos == e.position() && !e.relist {
			continue // the leader's session holds it as it is
		}
		e.relist = false
		tp := kmsg.NewFetchRequestTopicPartition()
		tp.Partition, tp.CurrentLeaderEpoch = p.Partition, e.state.CurrentLeaderEpoch
		tp.FetchOffset, tp.LastFetchedEpoch, tp.LogStartOffset = e.state.FetchOffset, e.state.LastFetchedEpoch, e.state.LogStartOffset
		tp.PartitionMaxBytes = f.cfg.PartitionMaxBytes
		t := fetchTopic(req, p)
		t.Partitions = append(t.Partitions, tp)
	}
	if len(sent) == 0 {
		return
	}
	f.builds = build
	if f.cfg.Sessions {
		if incremental {
			req.ForgottenTopics = f.forgotten()
		}
		// The leader's session now holds what this Fetch fetches.
		for _, e := range f.order {
			e.inSession = e.builtAt == build
			if e.inSession {
				e.sessionPos = e.position()
			}
		}
		f.gone, f.fetchEpoch = f.gone[:0], req.SessionEpoch
	}
	f.fetching, f.fetchInFlight, f.fetchSentAtMs = true, sent, nowMs
	f.ready.Fetch = req
}

// forgotten lists the partitions the leader's session holds that the Fetch
// being built (Fetcher.builds) does not fetch: those removed from the
// fetcher (unless back in this Fetch), then those not sendable, in request
// order.
func (f *Fetcher) forgotten() []kmsg.FetchRequestForgottenTopic {
	var gone []FetcherPartition
	for _, p := range f.gone {
		if e := f.parts[p]; e == nil || e.builtAt != f.builds {
			gone = append(gone, p)
		}
	}
	for _, e := range f.order {
		if e.inSession && e.builtAt != f.builds {
			gone = append(gone, e.p)
		}
	}
	var out []kmsg.FetchRequestForgottenTopic
	for _, p := range gone {
		if n := len(out); n > 0 && out[n-1].Topic == p.Topic && out[n-1].TopicID == p.TopicID {
			out[n-1].Partitions = append(out[n-1].Partitions, p.Partition)
			continue
		}
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = p.Topic, p.TopicID, []int32{p.Partition}
		out = append(out, ft)
	}
	return out
}

// resetSession makes the next Fetch a full one asking for a new session;
// keepID has it close the current one (whose state the fetcher no longer
// knows: a request failed or was given up).
func (f *Fetcher) resetSession(keepID bool) {
	if !keepID {
		f.sessionID = 0
	}
	f.sessionEpoch, f.gone = 0, nil
	for _, e := range f.order {
		e.inSession = false
	}
}

// sessionAnswered takes the leader's answer to the Fetch in flight into the
// session; it says whether the answer was a session error (the partitions
// then do not back off: the next Fetch, a full one, goes at once).
func (f *Fetcher) sessionAnswered(resp *kmsg.FetchResponse, err error) (sessionError bool) {
	if !f.cfg.Sessions {
		return false
	}
	switch {
	case err != nil || resp == nil || (resp.ErrorCode != 0 && !fetchSessionError(resp.ErrorCode)):
		f.resetSession(true)
	case resp.ErrorCode != 0:
		f.resetSession(false)
		return true
	case f.fetchEpoch <= 0:
		// A full fetch: the leader opened a session (or, with id 0, none;
		// the next Fetch asks again).
		f.sessionID = resp.SessionID
		if resp.SessionID != 0 {
			f.sessionEpoch = 1
		} else {
			f.resetSession(false)
		}
	case resp.SessionID != f.sessionID:
		f.resetSession(false)
	default:
		f.sessionEpoch = nextFetchSessionEpoch(f.fetchEpoch)
	}
	return false
}

// fetchSessionError says a Fetch's error is about its session.
func fetchSessionError(code int16) bool {
	return code == kerr.FetchSessionIDNotFound.Code || code == kerr.InvalidFetchSessionEpoch.Code || code == kerr.FetchSessionTopicIDError.Code
}

// fetchTopic is the request's entry for p's topic, added at the end if the
// last one is another topic (a topic may then appear twice, which Kafka
// accepts; partitions keep their rotation order).
func fetchTopic(req *kmsg.FetchRequest, p FetcherPartition) *kmsg.FetchRequestTopic {
	if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == p.Topic && req.Topics[n-1].TopicID == p.TopicID {
		return &req.Topics[n-1]
	}
	t := kmsg.NewFetchRequestTopic()
	t.Topic, t.TopicID = p.Topic, p.TopicID
	req.Topics = append(req.Topics, t)
	return &req.Topics[len(req.Topics)-1]
}

func (f *Fetcher) buildEpochRequest(nowMs int64) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.cfg.NodeID
	var sent []sentPartition
	for _, e := range f.order {
		p := e.p
		if !e.sendable(FollowerTruncating, nowMs) {
			continue
		}
		e.inFlight = true
		sent = append(sent, sentPartition{p: p, seq: e.state.Seq})
		tp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		tp.Partition, tp.CurrentLeaderEpoch, tp.LeaderEpoch = p.Partition, e.state.CurrentLeaderEpoch, e.state.LastFetchedEpoch
		if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == p.Topic {
			req.Topics[n-1].Partitions = append(req.Topics[n-1].Partitions, tp)
			continue
		}
		t := kmsg.NewOffsetForLeaderEpochRequestTopic()
		t.Topic, t.Partitions = p.Topic, []kmsg.OffsetForLeaderEpochRequestTopicPartition{tp}
		req.Topics = append(req.Topics, t)
	}
	if len(sent) == 0 {
		return
	}
	f.truncating, f.epochsInFlight = true, sent
	f.ready.OffsetForLeaderEpoch = req
}

// settle ends a request in flight: every partition in it is free again; on
// failure (err, or a request-level error) each backs off, as Kafka's
// fetcher delays every partition of a failed request.
func (f *Fetcher) settle(sent []sentPartition, failed bool, nowMs int64) {
	for _, s := range sent {
		if e := f.parts[s.p]; e != nil {
			e.inFlight = false
			if failed && e.state.Seq == s.seq {
				e.delayedUntilMs = nowMs + f.cfg.BackoffMs
			}
		}
	}
}

// FetchCompleted takes the leader's answer to the Fetch in flight (resp), or
// the error that ended it (err: a timeout, a lost connection), at time now.
// A failed request delays all its partitions; otherwise each partition
// still at the state it was sent with gets its outcome.
func (f *Fetcher) FetchCompleted(resp *kmsg.FetchResponse, err error, now Instant) {
	if !f.fetching {
		panic("fetcher: fetch completed with none in flight")
	}
	sent := f.fetchInFlight
	f.fetching, f.fetchInFlight = false, nil
	f.abandoned = 0
	failed := err != nil || resp == nil || resp.ErrorCode != 0
	sessionError := f.sessionAnswered(resp, err)
	f.settle(sent, failed && !sessionError, now.MonoMs)
	if !failed {
		answers := fetchAnswers(resp)
		delivered := len(f.ready.Outcomes)
		for _, s := range sent {
			if rp := answers.lookup(s.p); rp != nil {
				f.deliverFetch(s, rp)
			}
		}
		if len(f.ready.Outcomes) > delivered {
			f.outcomesWaitUntilMs = now.MonoMs + f.cfg.OutcomeWaitMs
		}
	}
	f.send(now)
}

// partitionKey identifies a partition in an answer: a Fetch answer names
// topics by id from v13 on, by name before; OffsetForLeaderEpoch by name.
type partitionKey struct {
	topic     string
	topicID   TopicID
	partition int32
}

type fetchAnswerIndex map[partitionKey]*kmsg.FetchResponseTopicPartition

// fetchAnswers indexes a Fetch response by the topic name or id it gives.
func fetchAnswers(resp *kmsg.FetchResponse) fetchAnswerIndex {
	out := fetchAnswerIndex{}
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			out[partitionKey{topic: t.Topic, topicID: t.TopicID, partition: rp.Partition}] = rp
		}
	}
	return out
}

// lookup finds p's answer by its id, its name, or both.
func (idx fetchAnswerIndex) lookup(p FetcherPartition) *kmsg.FetchResponseTopicPartition {
	for _, k := range []partitionKey{{topicID: p.TopicID, partition: p.Partition}, {topic: p.Topic, partition: p.Partition},
		{topic: p.Topic, topicID: p.TopicID, partition: p.Partition}} {
		if k.topicID == (TopicID{}) && k.topic == "" {
			continue
		}
		if rp := idx[k]; rp != nil {
			return rp
		}
	}
	return nil
}

// noteError records what the leader's last answer for the partition says
// of the backoff its next state may ask for.
func (e *fetcherEntry) noteError(code int16) {
	notLeadingYet := code == kerr.NotLeaderForPartition.Code && e.fresh
	e.leaderBehind = code == kerr.UnknownLeaderEpoch.Code || notLeadingYet
	e.topicUnknown = topicUnknownCode(code)
}

// deliverFetch turns one partition's answer into an outcome, unless the
// partition moved on or the answer brings nothing new.
func (f *Fetcher) deliverFetch(s sentPartition, rp *kmsg.FetchResponseTopicPartition) {
	e := f.parts[s.p]
	if e == nil {
		return
	}
	if e.state.Seq != s.seq {
		e.relist = true // the leader's session counts this answer as told
		return
	}
	o := FollowerFetchOutcome{Seq: s.seq, ErrorCode: rp.ErrorCode, HighWatermark: rp.HighWatermark, LogStartOffset: rp.LogStartOffset,
		DivergingEpoch: rp.DivergingEpoch.Epoch, DivergingEndOffset: rp.DivergingEpoch.EndOffset, Records: rp.RecordBatches}
	diverging := o.DivergingEpoch >= 0 && o.DivergingEndOffset >= 0
	if o.ErrorCode == 0 && len(o.Records) == 0 && !diverging && o.HighWatermark == e.lastHighWatermark && o.LogStartOffset == e.lastLogStartOffset {
		return
	}
	e.deliveredSeq = s.seq
	e.noteError(o.ErrorCode)
	e.fresh = e.fresh && (o.ErrorCode == kerr.UnknownLeaderEpoch.Code || e.topicUnknown)
	// Only an answer the follower takes the leader's offsets from counts
	// as seen: after an error or a diverging epoch (it truncates first) the
	// next answer with the same offsets is news to it.
	e.lastHighWatermark, e.lastLogStartOffset = -1, -1
	if o.ErrorCode == 0 && !diverging {
		e.lastHighWatermark, e.lastLogStartOffset = o.HighWatermark, o.LogStartOffset
	}
	if len(o.Records) > 0 {
		f.order = append(slices.DeleteFunc(f.order, func(q *fetcherEntry) bool { return q == e }), e)
	}
	f.ready.Outcomes = append(f.ready.Outcomes, FetcherOutcome{Partition: s.p, Fetch: &o})
}

// topicUnknownCode says a leader answered a partition with an error saying
// it does not know the partition's topic.
func topicUnknownCode(code int16) bool {
	return code == kerr.UnknownTopicID.Code || code == kerr.UnknownTopicOrPartition.Code
}

// EpochEndOffsetsCompleted takes the leader's answer to the
// OffsetForLeaderEpoch request in flight, or the error that ended it, at
// time now. A failed request delays all its partitions; otherwise each
// partition still at the state it was sent with gets its outcome.
func (f *Fetcher) EpochEndOffsetsCompleted(resp *kmsg.OffsetForLeaderEpochResponse, err error, now Instant) {
	if !f.truncating {
		panic("fetcher: OffsetForLeaderEpoch completed with none in flight")
	}
	sent := f.epochsInFlight
	f.truncating, f.epochsInFlight = false, nil
	failed := err != nil || resp == nil
	f.settle(sent, failed, now.MonoMs)
	if !failed {
		answers := map[partitionKey]*kmsg.OffsetForLeaderEpochResponseTopicPartition{}
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				answers[partitionKey{topic: t.Topic, partition: t.Partitions[j].Partition}] = &t.Partitions[j]
			}
		}
		for _, s := range sent {
			rp, ok := answers[partitionKey{topic: s.p.Topic, partition: s.p.Partition}]
			e := f.parts[s.p]
			if !ok || e == nil || e.state.Seq != s.seq {
				continue
			}
			e.deliveredSeq = s.seq
			e.noteError(rp.ErrorCode)
			f.ready.Outcomes = append(f.ready.Outcomes, FetcherOutcome{Partition: s.p,
				EpochEnd: &EpochEndOutcome{Seq: s.seq, ErrorCode: rp.ErrorCode, LeaderEpoch: rp.LeaderEpoch, EndOffset: rp.EndOffset}})
		}
	}
	f.send(now)
}

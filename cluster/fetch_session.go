package cluster

import (
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) on the serving side: a broker remembers, per
// session, the partitions a client fetches and what it last told the client
// of each, so that the client's next Fetch (incremental) lists only the
// partitions whose fetch position changed and the answer carries only the
// partitions with something new. A replica fetcher that follows dozens of
// partitions of one leader, most of them idle (the 50 partitions of
// __transaction_state), otherwise lists and is answered every one of them in
// every round of replication.
//
// Kafka's rules, as FetchSessions applies them:
//   - epoch 0 (a full fetch) asks for a new session: the session the request
//     names, if any, is closed, and a new one holds the request's
//     partitions if a slot is free (or one may be evicted); the answer
//     carries its id (0: none) and every partition;
//   - epoch -1 (a full fetch) asks for none: the session named is closed,
//     the answer carries session id 0 and every partition;
//   - any other epoch is an incremental fetch in the session named: an
//     unknown id is answered FETCH_SESSION_ID_NOT_FOUND, an epoch other than
//     the one the session expects INVALID_FETCH_SESSION_EPOCH, a session
//     that names topics by id (Fetch v13+) asked by name, or the reverse,
//     FETCH_SESSION_TOPIC_ID_ERROR, all with no partitions; otherwise the
//     request's partitions are added to the session or update it, its
//     forgotten topics leave it, and the session's partitions are served;
//   - an incremental answer carries a partition that has records, an error,
//     a diverging epoch, a high watermark, last stable offset or log start
//     offset other than the one last sent in the session, or that the
//     request listed (gregor's addition: a client lists a partition whose
//     position changed, and wants its answer even if nothing else did); an
//     answer built after a later request of the same session arrived is
//     INVALID_FETCH_SESSION_EPOCH with no partitions, as in Kafka.
//
// FetchSessions does no I/O and reads no clock; session ids come from the
// function it is given (random in a broker, so that a client of the broker's
// previous run does not find its old id handed to another client). Its
// caller serialises calls.

// FetchSessionsConfig bounds the session cache.
type FetchSessionsConfig struct {
	// Slots is max.incremental.fetch.session.cache.slots: the most
	// sessions held; zero or less holds none (every fetch is full).
	Slots int
	// EvictionMs is min.incremental.fetch.session.eviction.ms: a session
	// unused for that long may be evicted for a new one; a replica's
	// session may evict a consumer's at any time. Zero means
	// DefaultFetchSessionEvictionMs.
	EvictionMs int64
}

// Kafka's defaults for the fetch session cache.
const (
	DefaultFetchSessionCacheSlots = 1000
	DefaultFetchSessionEvictionMs = 120_000
)

// FetchSessions is a broker's cache of fetch sessions.
type FetchSessions struct {
	cfg      FetchSessionsConfig
	newID    func() int32
	sessions map[int32]*fetchSession
}

type fetchSession struct {
	id int32
	// epoch is the epoch the next incremental request must carry.
	epoch    int32
	byID     bool
	replica  bool
	lastUsed int64
	parts    map[fetchSessionKey]*fetchSessionPartition
	// order is the partitions in serving order: a partition a request
	// lists moves to the end (a replica fetcher moves a partition that
	// got records to the end of its order, so that under max_bytes none
	// starves).
	order []*fetchSessionPartition
}

type fetchSessionKey struct {
	topic     string
	topicID   TopicID
	partition int32
}

type fetchSessionPartition struct {
	key     fetchSessionKey
	topic   string
	topicID TopicID
	req     kmsg.FetchRequestTopicPartition
	// listedIn is the epoch of the last incremental request that listed
	// the partition.
	listedIn int32
	// sent says the values below are what the session's last answer
	// carrying the partition said.
	sent                               bool
	errorCode                          int16
	highWatermark, lso, logStartOffset int64
}

// NewFetchSessions builds an empty cache; newID draws session ids (any
// int32: ids not above zero and ids in use are drawn again).
func NewFetchSessions(cfg FetchSessionsConfig, newID func() int32) *FetchSessions {
	if cfg.EvictionMs <= 0 {
		cfg.EvictionMs = DefaultFetchSessionEvictionMs
	}
	return &FetchSessions{cfg: cfg, newID: newID, sessions: map[int32]*fetchSession{}}
}

// Len is how many sessions the cache holds.
func (s *FetchSessions) Len() int { return len(s.sessions) }

// FetchSessionContext is what FetchSessions decided for one Fetch request:
// the partitions to serve and how to answer.
type FetchSessionContext struct {
	// ErrorCode, when set, is the answer's error: no partition is served.
	ErrorCode int16
	// SessionID is the session id the answer carries (0: none).
	SessionID int32
	// Topics are the partitions to serve, in answer order: the request's
	// for a full fetch, the session's for an incremental one.
	Topics []kmsg.FetchRequestTopic
	// incremental: the answer carries only some partitions (Answer).
	incremental bool
	// epoch is the request's epoch (incremental).
	epoch int32
	// listed is, by partition of Topics (in order), whether the request
	// listed it (incremental).
	listed []bool
	// record says the answer's values are recorded in the session (every
	// fetch in a session, full or incremental).
	record bool
}

// Incremental says whether the answer carries only the partitions Answer
// keeps.
func (c *FetchSessionContext) Incremental() bool { return c.incremental }

// FetchSessionAnswer is what the answer says of one partition, for Answer.
type FetchSessionAnswer struct {
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Records says the answer carries records for it.
	Records bool
	// Diverging says the answer carries a diverging epoch.
	Diverging bool
}

// Begin decides a Fetch request's session at time nowMs; replica says the
// request is a follower's (a replica id set).
func (s *FetchSessions) Begin(req *kmsg.FetchRequest, replica bool, nowMs int64) FetchSessionContext {
	byID := req.Version >= 13
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		delete(s.sessions, req.SessionID) // a full fetch closes the session it names
		ctx := FetchSessionContext{Topics: req.Topics}
		if req.SessionEpoch == 0 && req.Version >= 7 {
			if sess := s.open(req, byID, replica, nowMs); sess != nil {
				ctx.SessionID, ctx.record = sess.id, true
			}
		}
		return ctx
	}
	sess := s.sessions[req.SessionID]
	switch {
	case sess == nil:
		return FetchSessionContext{ErrorCode: kerr.FetchSessionIDNotFound.Code}
	case sess.epoch != req.SessionEpoch:
		return FetchSessionContext{ErrorCode: kerr.InvalidFetchSessionEpoch.Code}
	case sess.byID != byID:
		return FetchSessionContext{ErrorCode: kerr.FetchSessionTopicIDError.Code}
	}
	sess.epoch = nextFetchSessionEpoch(sess.epoch)
	sess.lastUsed = nowMs
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			sess.remove(sessionKey(ft.Topic, ft.TopicID, p, byID))
		}
	}
	for _, t := range req.Topics {
		for _, rp := range t.Partitions {
			sess.put(t.Topic, t.TopicID, rp).listedIn = req.SessionEpoch
		}
	}
	ctx := FetchSessionContext{SessionID: sess.id, incremental: true, record: true, epoch: req.SessionEpoch,
		listed: make([]bool, len(sess.order))}
	// One array holds every partition served; each topic's run of them is
	// a slice of it.
	flat := make([]kmsg.FetchRequestTopicPartition, len(sess.order))
	for i, sp := range sess.order {
		ctx.listed[i], flat[i] = sp.listedIn == req.SessionEpoch, sp.req
		n := len(ctx.Topics)
		if n == 0 || ctx.Topics[n-1].Topic != sp.topic || ctx.Topics[n-1].TopicID != sp.topicID {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID, t.Partitions = sp.topic, sp.topicID, flat[i:i:i]
			ctx.Topics = append(ctx.Topics, t)
			n++
		}
		ctx.Topics[n-1].Partitions = flat[i-len(ctx.Topics[n-1].Partitions) : i+1 : i+1]
	}
	return ctx
}

// Answer decides, for the answer to the request ctx came from, which of
// ctx.Topics' partitions (answers, in that order) it carries, and records
// what those say in the session. A non-zero code means the answer must
// carry that error and no partition: a later request of the session
// arrived meanwhile.
func (s *FetchSessions) Answer(ctx *FetchSessionContext, answers []FetchSessionAnswer) (keep []bool, errorCode int16) {
	keep = make([]bool, len(answers))
	var sess *fetchSession
	if ctx.record {
		sess = s.sessions[ctx.SessionID]
	}
	if ctx.incremental && (sess == nil || sess.epoch != nextFetchSessionEpoch(ctx.epoch)) {
		return keep, kerr.InvalidFetchSessionEpoch.Code
	}
	i := 0
	for _, t := range ctx.Topics {
		for _, rp := range t.Partitions {
			if i >= len(answers) {
				return keep, 0
			}
			a := answers[i]
			var sp *fetchSessionPartition
			if sess != nil {
				sp = sess.parts[sessionKey(t.Topic, t.TopicID, rp.Partition, sess.byID)]
			}
			keep[i] = !ctx.incremental || (i < len(ctx.listed) && ctx.listed[i]) || sp == nil || sp.news(a)
			if keep[i] && sp != nil {
				sp.sent, sp.errorCode = true, a.ErrorCode
				sp.highWatermark, sp.lso, sp.logStartOffset = a.HighWatermark, a.LastStableOffset, a.LogStartOffset
			}
			i++
		}
	}
	return keep, 0
}

// news says whether an answer tells the client something the session's
// last answer carrying the partition did not.
func (sp *fetchSessionPartition) news(a FetchSessionAnswer) bool {
	return !sp.sent || a.Records || a.Diverging || a.ErrorCode != 0 || a.ErrorCode != sp.errorCode ||
		a.HighWatermark != sp.highWatermark || a.LastStableOffset != sp.lso || a.LogStartOffset != sp.logStartOffset
}

// open makes a session of a full fetch's partitions, evicting one if the
// cache is full; nil if there is no room.
func (s *FetchSessions) open(req *kmsg.FetchRequest, byID, replica bool, nowMs int64) *fetchSession {
	if s.cfg.Slots <= 0 {
		return nil
	}
	if len(s.sessions) >= s.cfg.Slots && !s.evict(replica, nowMs) {
		return nil
	}
	id := s.newID()
	for tries := 0; id <= 0 || s.sessions[id] != nil; tries++ {
		if tries > 100 {
			return nil // a broken id source: serve without a session
		}
		id = s.newID()
	}
	sess := &fetchSession{id: id, epoch: 1, byID: byID, replica: replica, lastUsed: nowMs, parts: map[fetchSessionKey]*fetchSessionPartition{}}
	for _, t := range req.Topics {
		for _, rp := range t.Partitions {
			sess.put(t.Topic, t.TopicID, rp)
		}
	}
	s.sessions[id] = sess
	return sess
}

// evict removes the least recently used session that is stale, or, for a
// replica's new session, that is a consumer's (Kafka's followers are
// privileged); ties go to the lower id. It says whether one went.
func (s *FetchSessions) evict(replica bool, nowMs int64) bool {
	var victim *fetchSession
	for _, sess := range s.sessions {
		if nowMs-sess.lastUsed < s.cfg.EvictionMs && (!replica || sess.replica) {
			continue
		}
		if victim == nil || sess.lastUsed < victim.lastUsed || (sess.lastUsed == victim.lastUsed && sess.id < victim.id) {
			victim = sess
		}
	}
	if victim == nil {
		return false
	}
	delete(s.sessions, victim.id)
	return true
}

func sessionKey(topic string, id TopicID, partition int32, byID bool) fetchSessionKey {
	if byID {
		return fetchSessionKey{topicID: id, partition: partition}
	}
	return fetchSessionKey{topic: topic, partition: partition}
}

// put adds a partition to the session, or updates it and moves it to the
// end of the order.
func (sess *fetchSession) put(topic string, id TopicID, rp kmsg.FetchRequestTopicPartition) *fetchSessionPartition {
	k := sessionKey(topic, id, rp.Partition, sess.byID)
	sp := sess.parts[k]
	if sp == nil {
		sp = &fetchSessionPartition{key: k, topic: topic, topicID: id}
		sess.parts[k] = sp
	} else {
		sess.order = slices.DeleteFunc(sess.order, func(q *fetchSessionPartition) bool { return q == sp })
	}
	sp.req = rp
	sess.order = append(sess.order, sp)
	return sp
}

func (sess *fetchSession) remove(k fetchSessionKey) {
	sp := sess.parts[k]
	if sp == nil {
		return
	}
	delete(sess.parts, k)
	sess.order = slices.DeleteFunc(sess.order, func(q *fetchSessionPartition) bool { return q == sp })
}

// nextFetchSessionEpoch is the epoch after e: it wraps to 1, never to 0 or
// -1, which mean full fetches.
func nextFetchSessionEpoch(e int32) int32 {
	if e == math.MaxInt32 {
		return 1
	}
	return e + 1
}

package actors

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/netio"
)

// fetchPartition asks a partition actor for what a Fetch may read now. It
// never waits: waiting is a separate watchPartition, so one slow partition
// never holds a multi-partition fetch hostage.
type fetchPartition struct {
	fetchOffset        int64
	maxBytes           int32
	isolationLevel     int8
	currentLeaderEpoch int32
	// follower is set on a follower's fetch (a Fetch with a replica id):
	// it reads up to the log end offset and tells the leader how far its
	// log goes.
	follower *cluster.FollowerFetch
	// toLogEnd reads up to the log end offset: a coordinator's load.
	toLogEnd bool
	// inline: the read is made on the connection's reader, which hands it
	// to an idle partition actor on its own goroutine (inlineMessage).
	inline bool
	reply  func(fetchPartitionResult)
}

// runsInline implements inlineMessage.
func (m *fetchPartition) runsInline() bool { return m.inline }

// fetchPartitionResult is one partition's part of a Fetch response. records
// is nil when there is nothing to read; the receiver must Release it.
type fetchPartitionResult struct {
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	readUpTo         int64 // cluster.FetchReply.ReadUpTo
	// diverging is cluster.FetchReply.Diverging.
	diverging *cluster.DivergingEpoch
	records   *logstore.Records
	// currentLeader is the leader as the partition knows it, given with
	// NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH (KIP-951); nil for
	// none.
	currentLeader *cluster.LeaderHint
	// abortedTxns are the aborted transactions among the records, for a
	// read_committed fetch.
	abortedTxns []logstore.AbortedTxn
	// bytesOut counts the topic's bytes sent, for records the response
	// includes.
	bytesOut prometheus.Counter
}

// watchPartition parks in a partition actor until records past the fetch
// offset are readable, or until deadlineMs (monotonic) passes (then nothing
// is called; the fetch has its own timer). When records come, the actor
// answers fetch if readOnWake (a fetch of one partition gets its records with
// the wake-up), else calls notify; when the partition stops, it calls notify.
type watchPartition struct {
	fetch      fetchPartition
	deadlineMs int64
	readOnWake bool
	waitPast   int64  // cluster.Watch.WaitPast
	fetcher    uint64 // cluster.Watch.Fetcher
	notify     func()
}

// notLeaderResult is a partition's part of a Fetch until its actor answers:
// a client that gets it asks for metadata again and retries.
var notLeaderResult = fetchPartitionResult{errorCode: kerr.NotLeaderForPartition.Code, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1}

// fetchTarget is one partition a Fetch asks for, in request order: where it
// goes in the response and its actor (nil when routing failed).
type fetchTarget struct {
	ti, pi  int
	pid     *actor.PID
	request fetchPartition
	// imageHint is the partition's leader as the image has it, for an
	// answer its actor gave none for.
	imageHint *cluster.LeaderHint
	// board is the partition actor's fetch board (fetch_board.go), nil
	// when it has none yet: the partition is then read and watched
	// through its actor.
	board *fetchBoard
}

// fetchShell carries out one Fetch's core (cluster.Fetch): it reads the
// partitions through their actors, parks watches, arms the deadline timer
// and sends the answer. Partition answers arrive on other goroutines; mu
// serialises calls into the core, and effects run outside it.
type fetchShell struct {
	r          *router
	req        *netio.Request
	body       *kmsg.FetchRequest
	resp       *kmsg.FetchResponse
	respond    func(kmsg.Response)
	targets    []fetchTarget
	deadlineMs int64
	fetcher    uint64 // fetcherKey
	isolation  cluster.IsolationLevel
	// session is the Fetch's fetch session, as the node's cache decided:
	// the partitions served, and which the answer carries.
	session cluster.FetchSessionContext
	// boarded says the Fetch parked on fetch boards at least once: its
	// answer takes it off them.
	boarded atomic.Bool

	mu    sync.Mutex
	core  *cluster.Fetch
	timer *time.Timer
	// unwatchConn stops the watch on the connection a parked Fetch keeps
	// (fetch_conn_closed.go); nil when none.
	unwatchConn func() bool
	// readResults and readReads are the buffers of its reads, each
	// reusing the last one's (readBuffers).
	readResults []fetchPartitionResult
	readReads   []cluster.PartitionRead
}

func (r *router) fetch(req *netio.Request, body *kmsg.FetchRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.FetchResponse)
	now := r.node.cfg.Clock.Now()
	follower := replicaFetch(body, now)
	session := r.sessions.begin(body, follower != nil, now.MonoMs)
	if session.ErrorCode != 0 {
		resp.ErrorCode = session.ErrorCode
		respond(resp)
		return
	}
	resp.SessionID = session.SessionID
	st := &fetchShell{r: r, req: req, body: body, resp: resp, respond: respond, deadlineMs: now.MonoMs + int64(max(body.MaxWaitMillis, 0)),
		isolation: cluster.IsolationLevel(body.IsolationLevel), session: session}
	n := 0
	for _, t := range session.Topics {
		n += len(t.Partitions)
	}
	targets := make([]cluster.FetchTarget, 0, n)
	st.targets = make([]fetchTarget, 0, n)
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, len(session.Topics))
	rt := r.node.routes.load()
	byID := body.Version >= 13
	st.fetcher = fetcherKey(req, follower)
	var followerParts []cluster.FollowerFetch // one array for the copies a follower's partitions carry
	if follower != nil {
		followerParts = make([]cluster.FollowerFetch, 0, n)
	}
	for ti, t := range session.Topics {
		rtopic := kmsg.NewFetchResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		rtopic.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(t.Partitions))
		topic, ok := rt.lookupTopic(t.Topic, t.TopicID, byID)
		for pi, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.RecordBatches = p.Partition, []byte{}
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			pid, code := rt.route(topic, ok, byID, p.Partition)
			rp.ErrorCode = code
			req := fetchPartition{fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes, isolationLevel: body.IsolationLevel, currentLeaderEpoch: p.CurrentLeaderEpoch}
			if follower != nil {
				ff := *follower
				ff.LogStartOffset, ff.LastFetchedEpoch = p.LogStartOffset, -1
				if body.Version >= 12 {
					ff.LastFetchedEpoch = p.LastFetchedEpoch
				}
				followerParts = append(followerParts, ff) // within its capacity: earlier pointers stay
				req.follower = &followerParts[len(followerParts)-1]
			}
			st.targets = append(st.targets, fetchTarget{ti: ti, pi: pi, pid: pid, request: req, imageHint: r.node.imageLeaderHint(topic, ok, p.Partition),
				board: r.node.fetchBoards.of(pid)})
			targets = append(targets, cluster.FetchTarget{ErrorCode: code, FetchPartition: fetchPartitionOf(&req)})
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	maxBytes := body.MaxBytes
	if body.Version < 3 {
		maxBytes = 0 // no response limit before v3
	}
	st.core = cluster.NewFetch(cluster.FetchConfig{MinBytes: body.MinBytes, MaxBytes: maxBytes, DeadlineMs: st.deadlineMs}, targets)
	st.stepOn(nil, nil, true)
}

// fetchTimeoutSlack is how long past a fetch's max wait the router waits for
// a partition actor's read before answering without it.
const fetchTimeoutSlack = 5 * time.Second

// step feeds the core under the lock (input may be nil), takes its effects
// and carries them out. results are the partition answers input reported,
// by target (nil: none).
func (st *fetchShell) step(input func(f *cluster.Fetch, now cluster.Instant), results []fetchPartitionResult) {
	st.stepOn(input, results, false)
}

// stepOn is step; onReader says it runs on the connection's reader, in the
// Fetch's first step: its reads then run inline (fetchPartition.inline).
func (st *fetchShell) stepOn(input func(f *cluster.Fetch, now cluster.Instant), results []fetchPartitionResult, onReader bool) {
	st.mu.Lock()
	now := st.r.node.cfg.Clock.Now()
	if input != nil {
		input(st.core, now)
	}
	if deadline := st.core.NextDeadlineMs(); deadline != math.MaxInt64 {
		// Parked: listed first, then the closing flag read, so a node
		// that stops meanwhile either finds this fetch or is seen here.
		if _, already := st.r.parked.LoadOrStore(st, struct{}{}); !already {
			st.r.node.metrics.fetchesWaiting.Inc()
			st.watchConn()
		}
		if st.r.closing.Load() {
			st.core.StopWaiting()
		} else if st.timer == nil {
			st.timer = time.AfterFunc(time.Duration(max(deadline-now.MonoMs, 0))*time.Millisecond, st.tick)
		}
	}
	rd := st.core.Ready()
	if rd.Answer != nil || rd.Dropped {
		if st.timer != nil {
			st.timer.Stop()
		}
		if _, was := st.r.parked.LoadAndDelete(st); was {
			st.r.node.metrics.fetchesWaiting.Dec()
		}
		st.unwatchConnLocked()
	}
	if rd.Answer == nil {
		// Under mu: the next read, which a wake-up or the deadline
		// may start once mu is free, reuses results' buffer.
		releaseResults(results)
	}
	st.mu.Unlock()
	if rd.Dropped {
		st.leaveBoards()
		st.dropped()
	}

	if rd.Read {
		st.read(onReader)
	}
	st.park(rd.Watches)
	if rd.Answer != nil {
		st.leaveBoards()
		st.answer(rd.Answer, results)
	}
}

// read asks every routed partition for what it has now: the core answers
// from the partition's published view those it can (nothing to read, and
// nothing for the leader to record), the others through their actors,
// inline when onReader.
func (st *fetchShell) read(onReader bool) {
	results := st.readBuffers()
	fo := &fanOut[fetchPartitionResult]{late: func(res fetchPartitionResult) { releaseResults([]fetchPartitionResult{res}) }}
	nowMs := st.r.node.cfg.Clock.Now().MonoMs
	skipped, sent := 0, 0
	for i, t := range st.targets {
		if t.pid == nil {
			continue
		}
		if t.board != nil {
			if rd, ok := t.board.currentView().ReadFromView(fetchPartitionOf(&t.request), st.isolation, nowMs); ok {
				results[i] = fetchPartitionResult{highWatermark: rd.HighWatermark, lastStableOffset: rd.LastStableOffset, logStartOffset: rd.LogStartOffset}
				skipped++
				continue
			}
		}
		sent++
		results[i] = notLeaderResult
		msg := t.request
		msg.inline = onReader
		fo.ask(t.pid, func(res fetchPartitionResult) { results[i] = res },
			func(reply func(fetchPartitionResult)) any { msg.reply = reply; return &msg })
	}
	st.r.node.metrics.fetchReadsSkipped.Add(float64(skipped))
	st.r.node.metrics.fetchReadsSent.Add(float64(sent))
	timeout := time.Duration(st.deadlineMs-st.r.node.cfg.Clock.Now().MonoMs)*time.Millisecond + fetchTimeoutSlack
	fo.run(st.r.node.system.Root, timeout, func() {
		reads := st.readReads
		for i, res := range results {
			reads[i] = partitionRead(res)
		}
		st.step(func(f *cluster.Fetch, now cluster.Instant) { f.ReadCompleted(reads, now) }, results)
	})
}

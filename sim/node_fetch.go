package sim

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// The fetch paths of a node: a fetcher core per leader its followers fetch
// from (it sends their Fetch and OffsetForLeaderEpoch requests and hands
// the outcomes back), and a fetch server per Fetch request it serves (the
// cluster.Fetch core: read every partition, park watches until min_bytes or
// max_wait_ms, answer), for followers and consumers alike.

type fetcherHost struct {
	leader int32
	core   *cluster.Fetcher
	// deadlineMs is the core's NextDeadlineMs after its last input.
	deadlineMs int64
	// fetchGen counts the Fetches given up (FetcherReady.AbandonFetch):
	// the answer of one given up is dropped, as the broker's fetcher drops
	// its connection.
	fetchGen uint64
	// fetchCorr is the correlation id of the Fetch in flight, for the
	// leader to know which one a give-up closes (fetch_conn_closed.go).
	fetchCorr uint64
}

// feedFetchers hands a follower's published fetch state to the fetcher of
// its leader and takes the partition from the others.
func (n *node) feedFetchers(h *replicaHost, st cluster.FollowerFetchState) {
	if n.replicas[h.key] != h || h.core == nil {
		return
	}
	p := cluster.FetcherPartition{Topic: h.key.topic, TopicID: h.topicID, Partition: h.key.partition}
	now := n.instant()
	for _, leader := range n.leaders {
		if leader != st.Leader {
			n.fetchers[leader].core.RemovePartition(p)
		}
	}
	if st.Leader < 0 || st.Leader == n.id {
		return
	}
	f := n.fetchers[st.Leader]
	if f == nil {
		if st.Phase == cluster.FollowerIdle {
			return
		}
		f = &fetcherHost{leader: st.Leader, core: cluster.NewFetcher(cluster.FetcherConfig{NodeID: n.id, BrokerEpoch: n.brokerEpoch(),
			Leader: st.Leader, MaxWaitMs: int32(n.w.timing.replicaFetchWaitMs), BackoffMs: n.w.timing.retryBackoffMs,
			PromptFetchGapMs: cluster.DefaultPromptFetchGapMs, Sessions: true})}
		n.fetchers[st.Leader] = f
		n.leaders = append(n.leaders, st.Leader)
		slices.Sort(n.leaders)
	}
	f.core.SetPartition(p, st, now)
	n.runFetcher(f)
}

// runFetcher carries out a fetcher's Ready: requests go to its leader,
// outcomes to the replicas.
func (n *node) runFetcher(f *fetcherHost) {
	w := n.w
	for {
		rd := f.core.Ready()
		if rd.Empty() {
			f.deadlineMs = f.core.NextDeadlineMs()
			return
		}
		if rd.AbandonFetch {
			f.fetchGen++
			w.stats.FetchesGivenUp++
			n.closeFetchConn(f)
		}
		if req := rd.Fetch; req != nil {
			w.stats.ReplicaFetches++
			gen := f.fetchGen
			w.call(n, n.id, f.leader, req, w.timing.fetchRPCTimeoutMs, func(body any, err error) {
				if gen != f.fetchGen {
					return // given up: the core expects no answer
				}
				resp, _ := body.(*kmsg.FetchResponse)
				if err == nil && resp == nil {
					err = errTimeout
				}
				f.core.FetchCompleted(resp, err, n.instant())
				n.runFetcher(f)
			})
			f.fetchCorr = n.rpc.next
		}
		if req := rd.OffsetForLeaderEpoch; req != nil {
			w.call(n, n.id, f.leader, req, w.timing.fetchRPCTimeoutMs, func(body any, err error) {
				resp, _ := body.(*kmsg.OffsetForLeaderEpochResponse)
				if err == nil && resp == nil {
					err = errTimeout
				}
				f.core.EpochEndOffsetsCompleted(resp, err, n.instant())
				n.runFetcher(f)
			})
		}
		for _, o := range rd.Outcomes {
			h := n.replicas[tpKey{o.Partition.Topic, o.Partition.Partition}]
			if h == nil || h.core == nil {
				continue
			}
			if d, slow := n.slowAppend(o); slow {
				n.at(d, func() { h.takeOutcome(o) })
				continue
			}
			h.takeOutcome(o)
		}
	}
}

// fetchServer serves one Fetch request with the cluster.Fetch core.
type fetchServer struct {
	n        *node
	id       uint64
	req      *message
	body     *kmsg.FetchRequest
	core     *cluster.Fetch
	targets  []serverTarget
	reads    []cluster.PartitionRead
	recs     []*logstore.Records
	pending  int
	done     bool
	follower bool
	// isolation is the consumer's isolation level (followers read
	// uncommitted); a read_committed answer lists the aborted
	// transactions among its records.
	isolation cluster.IsolationLevel
	// session is what the node's fetch session cache decided: the
	// partitions served and which the answer carries.
	session cluster.FetchSessionContext
	// names are the session's topics' names (a fetch by id: as the
	// node's image names them).
	names []string
}

type serverTarget struct {
	h         *replicaHost
	part      cluster.FetchPartition
	errorCode int16
}

// serveFetch starts a fetch server for a Fetch request.
func (n *node) serveFetch(m *message, req *kmsg.FetchRequest) {
	now := n.instant()
	replicaID := req.ReplicaID
	if req.ReplicaState.ID >= 0 {
		replicaID = req.ReplicaState.ID
	}
	session := n.fetchSessions.Begin(req, replicaID >= 0, now.MonoMs)
	if session.ErrorCode != 0 {
		resp := kmsg.NewPtrFetchResponse()
		resp.ErrorCode = session.ErrorCode
		n.w.respond(m, resp)
		return
	}
	n.nextServer++
	s := &fetchServer{n: n, id: n.nextServer, req: m, body: req, follower: replicaID >= 0, isolation: cluster.ReadUncommitted, session: session}
	if !s.follower && req.IsolationLevel == 1 {
		s.isolation = cluster.ReadCommitted
	}
	var targets []cluster.FetchTarget
	// A fetch by topic id (v13) finds the topic by id in the node's image,
	// as production's routes do (actors/routes.go): UNKNOWN_TOPIC_ID for
	// an id the image does not hold, and the replica of that name only if
	// it is of that id.
	byID := req.Version >= 13
	if s.follower {
		// Production's followers fetch at the version their connection
		// negotiates with the leader's ApiVersions (netio; Fetch v18,
		// actors/router.go): by topic id. The simulator's requests keep
		// version 0 (the sizes its network's delays were recorded with)
		// but are served by the id they carry: a delayed fetch of a
		// deleted topic's replica is answered UNKNOWN_TOPIC_ID by the
		// replica of a topic created again under its name, not taken as
		// its follower's position (seed 11012062 of recreate: S3, with
		// the fetch served by name).
		byID = true
	}
	if n.w.opts.Plant == PlantServeByName && byID && !s.follower {
		byID = false // the name the simulator's consumers carry beside the id
		n.w.stats.PlantFired++
	}
	for _, t := range session.Topics {
		name, code := t.Topic, int16(0)
		if byID {
			if ti, ok := n.image.TopicByID(t.TopicID); ok {
				name = ti.Name
			} else {
				code = kerr.UnknownTopicID.Code
			}
		}
		s.names = append(s.names, name)
		for _, p := range t.Partitions {
			st := serverTarget{part: cluster.FetchPartition{FetchOffset: p.FetchOffset, PartitionMaxBytes: p.PartitionMaxBytes, CurrentLeaderEpoch: p.CurrentLeaderEpoch}}
			if s.follower {
				st.part.Follower = &cluster.FollowerFetch{ReplicaID: replicaID, LogStartOffset: p.LogStartOffset, FetchedAtMs: now.MonoMs, BrokerEpoch: req.ReplicaState.Epoch,
					LastFetchedEpoch: p.LastFetchedEpoch}
			}
			if code != 0 {
				st.errorCode = code
			} else if h := n.replicas[tpKey{name, p.Partition}]; h != nil && h.core != nil && (!byID || h.topicID == t.TopicID) {
				st.h = h
			} else if topic, ok := n.image.Topic(name); ok && p.Partition < topic.PartitionCount() {
				st.errorCode = kerr.NotLeaderForPartition.Code
			} else {
				st.errorCode = kerr.UnknownTopicOrPartition.Code
			}
			s.targets = append(s.targets, st)
			targets = append(targets, cluster.FetchTarget{FetchPartition: st.part, ErrorCode: st.errorCode})
		}
	}
	s.reads = make([]cluster.PartitionRead, len(s.targets))
	s.recs = make([]*logstore.Records, len(s.targets))
	s.core = cluster.NewFetch(cluster.FetchConfig{MinBytes: req.MinBytes, MaxBytes: req.MaxBytes, DeadlineMs: now.MonoMs + int64(req.MaxWaitMillis)}, targets)
	n.servers[s.id] = s
	n.serverIDs = append(n.serverIDs, s.id)
	s.process()
}

// process carries out the Fetch core's Ready: reads, watches, the answer.
func (s *fetchServer) process() {
	for !s.done {
		rd := s.core.Ready()
		if rd.Dropped {
			s.drop()
			return
		}
		if !rd.Read && len(rd.Watches) == 0 && rd.Answer == nil {
			return
		}
		if rd.Read {
			s.read()
		}
		for _, wt := range rd.Watches {
			t := s.targets[wt.Index]
			if t.h == nil || t.h.core == nil {
				s.n.post(s.woken)
				continue
			}
			t.h.park(s, wt.Index, t.part, wt.WakesAbove(t.part.FetchOffset))
		}
		if rd.Answer != nil {
			s.unpark()
			s.answer(rd.Answer)
		}
	}
}

// read reads every routed partition; the answers come back through the
// node's queue (readDone).
func (s *fetchServer) read() {
	s.pending = 0
	for _, t := range s.targets {
		if t.errorCode == 0 {
			s.pending++
		}
	}
	for i, t := range s.targets {
		if t.errorCode != 0 {
			continue
		}
		if t.h == nil || t.h.core == nil || s.n.replicas[t.h.key] != t.h {
			s.pending--
			s.reads[i] = cluster.PartitionRead{ErrorCode: kerr.NotLeaderForPartition.Code, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
			continue
		}
		if s.follower && s.n.w.opts.Plant == PlantEarlyHW && t.h.core.IsLeader() {
			s.phantomFetch(t)
		}
		// As the broker's fetch shell: a partition the replica's view
		// answers (the fetch is at the end of what it may read and the
		// leader has recorded it) is not read. A replica busy with a slow
		// leader append (slow_leader.go) has a message being handled, so
		// its view is not current (actors/fetch_board.go's currentView):
		// the read goes to its mailbox, behind the append.
		if !t.h.busy && t.h.readFromView(s, i) {
			continue
		}
		if t.h.busy {
			s.n.w.stats.SlowLeaderReadsHeld++
		}
		id, h, part, isolation := t.h.await(waiter{kind: waitFetchRead, srv: s, index: i}), t.h, t.part, s.readIsolation()
		h.deliver(func() {
			h.core.Fetch(id, part, isolation)
			h.carryOut()
		})
	}
	if s.pending == 0 {
		s.core.ReadCompleted(s.reads, s.n.instant())
	}
}

// readIsolation is the isolation s reads at: its consumer's, but
// read_uncommitted for a read_committed consumer under the read-open plant
// (whose answer still lists the aborted transactions among its records, so
// that only open transactions' records show).
func (s *fetchServer) readIsolation() cluster.IsolationLevel {
	if s.isolation == cluster.ReadCommitted && s.n.w.opts.Plant == PlantReadOpen {
		s.n.w.stats.PlantFired++
		return cluster.ReadUncommitted
	}
	return s.isolation
}

// readFromView answers target i of s from its replica's fetch view, when
// the view answers it.
func (h *replicaHost) readFromView(s *fetchServer, i int) bool {
	h.core.FetchView(&s.n.view)
	rd, ok := s.n.view.ReadFromView(s.targets[i].part, s.readIsolation(), s.n.instant().MonoMs)
	if !ok {
		return false
	}
	s.n.w.stats.ViewReads++
	s.pending--
	releaseRecords(s.recs[i])
	s.recs[i] = nil
	s.reads[i] = rd
	return true
}

// phantomFetch is the early-hw plant: before a follower's real fetch, the
// leader is told the follower already reached the leader's log end offset,
// so its high watermark passes batches the follower does not have.
func (s *fetchServer) phantomFetch(t serverTarget) {
	leo := t.h.core.LogEndOffset()
	if t.part.FetchOffset >= leo {
		return
	}
	s.n.w.stats.PlantFired++
	phantom := t.part
	phantom.FetchOffset = leo
	id := t.h.await(waiter{kind: waitFetchRead, srv: nil})
	t.h.core.Fetch(id, phantom, cluster.ReadUncommitted)
	delete(t.h.waiting, id)
	t.h.carryOut()
}

// readDone takes one partition's read.
func (s *fetchServer) readDone(i int, rep cluster.FetchReply) {
	if s == nil || s.done || s.pending <= 0 {
		releaseRecords(rep.Records)
		return
	}
	releaseRecords(s.recs[i])
	s.recs[i] = rep.Records
	s.reads[i] = partitionRead(rep)
	s.pending--
	if s.pending == 0 {
		s.core.ReadCompleted(s.reads, s.n.instant())
		s.process()
	}
}

// woken takes a watch's wake-up.
func (s *fetchServer) woken() {
	if s.done {
		return
	}
	s.core.Woken()
	s.process()
}

// wokenWithRead takes the read a ReadOnWake watch did.
func (s *fetchServer) wokenWithRead(i int, rep cluster.FetchReply) {
	if s.done || !s.core.WokenWithRead(i, partitionRead(rep), s.n.instant()) {
		releaseRecords(rep.Records)
		return
	}
	releaseRecords(s.recs[i])
	s.recs[i] = rep.Records
	s.process()
}

func partitionRead(rep cluster.FetchReply) cluster.PartitionRead {
	r := cluster.PartitionRead{ErrorCode: rep.ErrorCode, HighWatermark: rep.HighWatermark, LastStableOffset: rep.LastStableOffset, LogStartOffset: rep.LogStartOffset, ReadUpTo: rep.ReadUpTo,
		Diverging: rep.Diverging}
	if rep.Records != nil {
		r.RecordsBytes = rep.Records.Len()
	}
	return r
}

// answer decides the response and ends the server. The records it
// includes are read later, when the connection's writer writes them, in an
// event of their own (fetch_read.go); the aborted transactions among them
// are listed now, as the partition actor lists them with its reply.
func (s *fetchServer) answer(a *cluster.FetchAnswer) {
	s.done = true
	delete(s.n.servers, s.id)
	if i := slices.Index(s.n.serverIDs, s.id); i >= 0 {
		s.n.serverIDs = slices.Delete(s.n.serverIDs, i, i+1)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SessionID = s.session.SessionID
	keep, code := s.sessionKeeps(a)
	if code != 0 {
		for i := range s.recs {
			releaseRecords(s.recs[i])
			s.recs[i] = nil
		}
		resp.ErrorCode = code
		s.n.w.respond(s.req, resp)
		return
	}
	fw := &fetchWrite{n: s.n, req: s.req, resp: resp, follower: s.follower}
	i := 0
	for si, t := range s.session.Topics {
		ti := len(resp.Topics)
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			pa := a.Partitions[i]
			if !keep[i] { // left out of a session's answer: nothing new
				releaseRecords(s.recs[i])
				s.recs[i] = nil
				i++
				continue
			}
			pi := len(rt.Partitions)
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, pa.ErrorCode
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = pa.HighWatermark, pa.LastStableOffset, pa.LogStartOffset
			if d := pa.Diverging; d != nil {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
			}
			if recs := s.recs[i]; pa.IncludeRecords && recs != nil && recs.Len() > 0 {
				if h := s.targets[i].h; s.isolation == cluster.ReadCommitted && h != nil && h.log != nil {
					for _, a := range h.log.AbortedTransactions(recs.FirstOffset, recs.NextOffset) {
						at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
						at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
						rp.AbortedTransactions = append(rp.AbortedTransactions, at)
					}
				}
				fw.plan(ti, pi, tpKey{s.names[si], p.Partition}, s.targets[i].h, recs, pa.HighWatermark)
			} else {
				releaseRecords(recs)
			}
			s.recs[i] = nil
			rt.Partitions = append(rt.Partitions, rp)
			i++
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	fw.start()
}

// sessionKeeps is, by target, whether the answer carries the partition
// (every one outside a session), or the error a session refuses the answer
// with.
func (s *fetchServer) sessionKeeps(a *cluster.FetchAnswer) ([]bool, int16) {
	if s.session.SessionID == 0 {
		keep := make([]bool, len(s.targets))
		for i := range keep {
			keep[i] = true
		}
		return keep, 0
	}
	answers := make([]cluster.FetchSessionAnswer, len(s.targets))
	for i, pa := range a.Partitions {
		answers[i] = cluster.FetchSessionAnswer{ErrorCode: pa.ErrorCode, HighWatermark: pa.HighWatermark, LastStableOffset: pa.LastStableOffset,
			LogStartOffset: pa.LogStartOffset, Records: pa.IncludeRecords && s.recs[i] != nil && s.recs[i].Len() > 0, Diverging: pa.Diverging != nil}
	}
	return s.n.fetchSessions.Answer(&s.session, answers)
}

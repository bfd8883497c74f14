package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	reply              func(fetchPartitionResult)
}

// fetchPartitionResult is one partition's part of a Fetch response. records
// is nil when there is nothing to read; the receiver must Release it.
type fetchPartitionResult struct {
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	records          *logstore.Records
	// bytesOut counts the topic's bytes sent, for records the response
	// includes.
	bytesOut prometheus.Counter
}

// watchPartition parks in a partition actor until records at or past offset
// are readable, or until deadline passes (then nothing is called; the fetch
// has its own timer). When records come, the actor carries out read if set
// (a fetch of one partition gets its records with the wake-up), else calls
// notify; when the partition stops, it calls notify.
type watchPartition struct {
	offset   int64
	deadline time.Time
	notify   func()
	read     *fetchPartition
}

// fetchTarget is one partition a Fetch asks for, in request order.
type fetchTarget struct {
	ti, pi  int
	pid     *actor.PID
	request *fetchPartition
	result  fetchPartitionResult
}

// fetchState is a Fetch in progress: its response skeleton, its partitions,
// its deadline, and whether it was answered.
type fetchState struct {
	r        *router
	body     *kmsg.FetchRequest
	resp     *kmsg.FetchResponse
	targets  []*fetchTarget
	deadline time.Time
	respond  func(kmsg.Response)

	mu       sync.Mutex
	answered bool
	timer    *time.Timer
	woken    bool
}

func (r *router) fetch(req *netio.Request, body *kmsg.FetchRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.FetchResponse)
	if body.SessionID != 0 || (body.SessionEpoch != 0 && body.SessionEpoch != -1) {
		// This broker never hands out fetch sessions (it answers with
		// session id 0, so clients do full fetches); a client naming one
		// is told it does not exist and starts over.
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		respond(resp)
		return
	}
	st := &fetchState{r: r, body: body, resp: resp, respond: respond,
		deadline: req.ReceivedAt.Add(time.Duration(body.MaxWaitMillis) * time.Millisecond)}
	rt := r.node.routes.load()
	byID := body.Version >= 13
	for ti, t := range body.Topics {
		rtopic := kmsg.NewFetchResponseTopic()
		rtopic.Topic, rtopic.TopicID = t.Topic, t.TopicID
		topic, ok := rt.lookupTopic(t.Topic, t.TopicID, byID)
		for pi, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.RecordBatches = p.Partition, []byte{}
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			pid, code := rt.route(topic, ok, byID, p.Partition)
			rp.ErrorCode = code
			if code == 0 {
				st.targets = append(st.targets, &fetchTarget{ti: ti, pi: pi, pid: pid,
					request: &fetchPartition{fetchOffset: p.FetchOffset, maxBytes: p.PartitionMaxBytes,
						isolationLevel: body.IsolationLevel, currentLeaderEpoch: p.CurrentLeaderEpoch}})
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	st.read()
}

// fetchTimeoutSlack is how long past a fetch's max wait the router waits for
// a partition actor's read before answering without it.
const fetchTimeoutSlack = 5 * time.Second

// read asks every partition for what it has now, then answers or waits.
func (st *fetchState) read() {
	if len(st.targets) == 0 {
		st.answer()
		return
	}
	m := &merger{done: st.afterRead}
	for _, t := range st.targets {
		// Until the partition answers: a client that gets this asks the
		// metadata again and retries.
		t.result = fetchPartitionResult{errorCode: kerr.NotLeaderForPartition.Code, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1}
		m.expect()
	}
	m.start(time.Until(st.deadline) + fetchTimeoutSlack)
	for _, t := range st.targets {
		t := t
		msg := *t.request
		msg.reply = func(res fetchPartitionResult) {
			if !m.finish(func() { t.result = res }) && res.records != nil {
				res.records.Release()
			}
		}
		st.r.node.system.Root.Send(t.pid, &msg)
	}
}

// afterRead answers when enough bytes (min_bytes) are readable, a partition
// has an error, or the wait is over; otherwise it parks watches in the
// partition actors and waits for the first new data or the deadline.
func (st *fetchState) afterRead() {
	var total int64
	failed := false
	for _, t := range st.targets {
		if t.result.errorCode != 0 {
			failed = true
		}
		if t.result.records != nil {
			total += t.result.records.Len()
		}
	}
	now := time.Now()
	if failed || total >= int64(st.body.MinBytes) || total > 0 && st.body.MinBytes <= 0 || !now.Before(st.deadline) || st.r.closing.Load() {
		st.answer()
		return
	}
	st.releaseReads()
	st.mu.Lock()
	st.woken = false
	if st.timer == nil {
		st.timer = time.AfterFunc(st.deadline.Sub(now), st.wake)
		st.r.parked.Store(st, struct{}{})
	}
	st.mu.Unlock()
	for _, t := range st.targets {
		w := &watchPartition{offset: t.request.fetchOffset, deadline: st.deadline, notify: st.wake}
		if len(st.targets) == 1 {
			read := *t.request
			read.reply = func(res fetchPartitionResult) { st.wokenWithRead(t, res) }
			w.read = &read
		}
		st.r.node.system.Root.Send(t.pid, w)
	}
}

// wokenWithRead takes the read a partition actor did when new records woke
// the watch of a single-partition fetch, in place of a wake and a re-read.
func (st *fetchState) wokenWithRead(t *fetchTarget, res fetchPartitionResult) {
	st.mu.Lock()
	if st.answered || st.woken {
		st.mu.Unlock()
		if res.records != nil {
			res.records.Release()
		}
		return
	}
	st.woken = true
	st.mu.Unlock()
	t.result = res
	st.afterRead()
}

// wakeParkedFetches answers every waiting fetch now (graceful shutdown).
func (r *router) wakeParkedFetches() {
	r.parked.Range(func(k, _ any) bool {
		k.(*fetchState).wake()
		return true
	})
}

// wake runs on new data in a watched partition or at the deadline: it reads
// again once per wait.
func (st *fetchState) wake() {
	st.mu.Lock()
	if st.answered || st.woken {
		st.mu.Unlock()
		return
	}
	st.woken = true
	st.mu.Unlock()
	st.read()
}

func (st *fetchState) releaseReads() {
	for _, t := range st.targets {
		if t.result.records != nil {
			t.result.records.Release()
			t.result.records = nil
		}
	}
}

// answer fills the response in request order within the response's max_bytes
// (the first partition with data is always included whole, as Kafka does, so
// a consumer always makes progress) and sends it.
func (st *fetchState) answer() {
	st.mu.Lock()
	if st.answered {
		st.mu.Unlock()
		st.releaseReads()
		return
	}
	st.answered = true
	if st.timer != nil {
		st.timer.Stop()
		st.r.parked.Delete(st)
	}
	st.mu.Unlock()
	budget := int64(st.body.MaxBytes)
	if st.body.Version < 3 || budget <= 0 {
		budget = 1<<31 - 1
	}
	first := true
	// The records each partition answers with, in response order (targets
	// follow the request's), sent without a copy.
	var included []partitionRecords
	for _, t := range st.targets {
		rp := &st.resp.Topics[t.ti].Partitions[t.pi]
		// Empty, never null: librdkafka refuses a null record set.
		rp.RecordBatches = []byte{}
		res := t.result
		rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.errorCode, res.highWatermark, res.lastStableOffset, res.logStartOffset
		if st.body.IsolationLevel == 1 {
			rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		if res.records == nil {
			continue
		}
		t.result.records = nil
		if n := res.records.Len(); n > 0 && (first || n <= budget) {
			included = append(included, partitionRecords{partition: rp, records: res.records})
			res.bytesOut.Add(float64(n))
			budget -= n
			first = false
			continue
		}
		res.records.Release()
	}
	if len(included) == 0 {
		st.respond(st.resp)
		return
	}
	if enc, ok := encodeFetchResponse(st.resp, included); ok {
		st.respond(enc)
		return
	}
	// Copying fallback.
	for _, pr := range included {
		if b, err := pr.records.Bytes(); err != nil {
			pr.partition.RecordBatches = []byte{}
			pr.partition.ErrorCode = kerr.KafkaStorageError.Code
		} else {
			pr.partition.RecordBatches = b
		}
		pr.records.Release()
	}
	st.respond(st.resp)
}

package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore"
	"gregor/txn"
)

// The workload's clients: they find leaders from Metadata like real
// clients, send to them, retry, and record every operation in the history.
// A producer sends one value at a time (acks=all or acks=1, idempotence
// off); a consumer assigns itself every partition and polls each from its
// position; the admin creates topics and partitions during the run.

type clientKind int8

const (
	producerClient clientKind = iota
	consumerClient
	adminClient
	groupClient
)

type client struct {
	w    *World
	id   int32
	kind clientKind
	rpc  *rpcs
	meta clientMeta
	// inOrder are the ordered requests awaiting their answers per node,
	// in the order sent (callInOrder).
	inOrder map[int32][]*inOrderAnswer
	// stopped clients send nothing new (the workload ended); crashed
	// ones (a scenario's crash-consumer) are gone for good.
	stopped, crashed bool

	// producer; a scripted one sends limit values to target, one after
	// another.
	acks   int16
	busy   bool
	seq    int
	meanMs float64
	target *tpKey
	limit  int

	// consumer
	positions map[tpKey]int64
	polling   map[tpKey]bool
	final     bool
	// highWatermarks are the high watermarks each partition last
	// reported (the final reader fetches again at once below them).
	highWatermarks map[tpKey]int64

	// admin
	pendingTopics []topicSpec

	// group member (KIP-848)
	member *groupMember

	// prod is an idempotent or transactional producer's state
	// (client_txn.go); readCommitted makes a consumer's polls
	// read_committed.
	prod          *producerState
	readCommitted bool
}

// topicSpec is a topic the admin creates.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
	minISR     int
	unclean    bool
	// assign places partition 0 on these brokers (a single partition).
	assign []int32
	// compacted topics have cleanup.policy=compact (compaction.go).
	compacted bool
	// logAppendTime topics have message.timestamp.type=LogAppendTime
	// (timestamps.go).
	logAppendTime bool
	// segmentBytes is segment.bytes, 64 KiB when zero.
	segmentBytes int
}

type clientMeta struct {
	topics map[string]topicMetadata
	// newestEpoch is the newest leader epoch the client has seen for each
	// partition; rewinds counts the answers in a row that named an older
	// one than it holds (mergeTopic).
	newestEpoch map[tpKey]int32
	rewinds     map[tpKey]int
	controller  int32
	brokers     []int32
	refreshing  bool
	lastMs      int64
	next        int
}

func (w *World) newClient(kind clientKind) *client {
	c := &client{w: w, id: clientBase + int32(len(w.clients)), kind: kind, rpc: newRPCs(),
		positions: map[tpKey]int64{}, polling: map[tpKey]bool{}, highWatermarks: map[tpKey]int64{}}
	c.meta.topics = map[string]topicMetadata{}
	c.meta.newestEpoch, c.meta.rewinds = map[tpKey]int32{}, map[tpKey]int{}
	c.meta.controller = -1
	c.meta.lastMs = -1 << 40
	for _, n := range w.nodes {
		c.meta.brokers = append(c.meta.brokers, n.id)
	}
	w.clients = append(w.clients, c)
	return c
}

func (c *client) name() string             { return endpointName(c.id) }
func (c *client) rpcTable() *rpcs          { return c.rpc }
func (c *client) at(atMs int64, fn func()) { c.w.schedule(atMs, fn) }

// after runs fn delayMs from now: clients' clocks run at virtual time.
func (c *client) after(delayMs int64, fn func()) { c.at(c.w.now+delayMs, fn) }
func (c *client) receive(m *message)             { c.rpc.completeCall(m) }
func (c *client) call(to int32, body any, timeoutMs int64, done func(any, error)) {
	c.w.call(c, c.id, to, body, timeoutMs, done)
}

// refreshMetadata asks a broker (the next in turn) for its metadata.
func (c *client) refreshMetadata() {
	w := c.w
	if c.meta.refreshing || w.now-c.meta.lastMs < 100 {
		return
	}
	c.meta.refreshing, c.meta.lastMs = true, w.now
	to := c.meta.brokers[c.meta.next%len(c.meta.brokers)]
	c.meta.next++
	c.call(to, &metadataRequest{}, w.timing.requestTimeoutMs, func(body any, err error) {
		c.meta.refreshing = false
		resp, _ := body.(*metadataResponse)
		if err != nil || resp == nil {
			return
		}
		c.meta.controller = resp.controller
		for _, t := range resp.topics {
			c.mergeTopic(t)
		}
	})
}

// maxEpochRewinds is how many answers in a row may name an older leader
// epoch of a partition than the client knows before it takes one
// (franz-go's maxEpochRewinds: an unclean election can leave a lower epoch
// the current one).
const maxEpochRewinds = 5

// mergeTopic takes a broker's metadata of a topic as franz-go does: a
// partition whose leader epoch is older than the one the client knows
// keeps what the client knows (a deposed leader, paused or cut off,
// answers with its stale image), up to maxEpochRewinds answers in a row.
// The client taking a deposed leader's metadata sent its idempotent
// producers' batches there, behind sequences the new leader had appended:
// out-of-order failures no real client meets (out_of_order.go).
func (c *client) mergeTopic(t topicMetadata) {
	old, ok := c.meta.topics[t.name]
	if ok && old.id == t.id {
		t.partitions = slices.Clone(t.partitions)
		for i := range t.partitions {
			tp := tpKey{t.name, int32(i)}
			if i < len(old.partitions) && t.partitions[i].LeaderEpoch < old.partitions[i].LeaderEpoch && c.meta.rewinds[tp] < maxEpochRewinds {
				t.partitions[i] = old.partitions[i]
				c.meta.rewinds[tp]++
				c.w.stats.MetadataRewindsIgnored++
				continue
			}
			delete(c.meta.rewinds, tp)
		}
	}
	c.meta.topics[t.name] = t
	for i, p := range t.partitions {
		tp := tpKey{t.name, int32(i)}
		c.meta.newestEpoch[tp] = max(c.meta.newestEpoch[tp], p.LeaderEpoch)
	}
}

// topicNames are the workload's topics the client knows (not
// __consumer_offsets or __transaction_state), sorted.
func (c *client) topicNames() []string {
	names := make([]string, 0, len(c.meta.topics))
	for name := range c.meta.topics {
		if name != groups.OffsetsTopic && name != txn.StateTopic {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// leader is where the client's metadata says tp's leader is.
func (c *client) leader(tp tpKey) (int32, int32) {
	t, ok := c.meta.topics[tp.topic]
	if !ok || int(tp.partition) >= len(t.partitions) {
		return -1, -1
	}
	p := t.partitions[tp.partition]
	return p.Leader, p.LeaderEpoch
}

// startProducer runs a producer: one value at a time, a new one every
// meanMs on average.
func (c *client) startProducer() {
	c.refreshMetadata()
	c.at(c.w.now+expMs(c.w.rngWorkload, c.meanMs), c.produceNext)
}

func (c *client) produceNext() {
	w := c.w
	if c.stopped {
		return
	}
	c.at(w.now+1+expMs(w.rngWorkload, c.meanMs), c.produceNext)
	if c.busy {
		return
	}
	if c.limit > 0 && c.seq >= c.limit {
		c.stopped = true
		return
	}
	var tp tpKey
	if c.target != nil {
		tp = *c.target
	} else {
		names := c.topicNames()
		if len(names) == 0 {
			c.refreshMetadata()
			return
		}
		t := c.meta.topics[names[w.rngWorkload.IntN(len(names))]]
		if len(t.partitions) == 0 || w.stretchQuiet && t.name == stretchTopic {
			return
		}
		tp = tpKey{t.name, int32(w.rngWorkload.IntN(len(t.partitions)))}
	}
	c.seq++
	value := fmt.Sprintf("%s-%d", c.name(), c.seq)
	op := w.hist.invokeSend(c.id, tp, value, c.acks, w.now, w.now+w.timing.deliveryTimeoutMs)
	w.stats.Sends++
	w.tracef("%s: send %s to %s acks=%d", c.name(), value, tp, c.acks)
	c.busy = true
	c.sendAttempt(op)
}

// sendAttempt sends the value to the leader the client knows, and decides
// from the answer whether to retry.
func (c *client) sendAttempt(op *sendOp) {
	w := c.w
	if w.now >= op.deadline {
		c.finishSend(op, outcomeFail)
		return
	}
	leader, _ := c.leader(op.tp)
	if leader < 0 {
		c.refreshMetadata()
		c.at(w.now+w.timing.retryBackoffMs, func() { c.sendAttempt(op) })
		return
	}
	op.attempts++
	if !op.timestamped {
		op.timestampMs, op.headerMaxMs = w.sendTimestamp()
		op.timestamped = true
	}
	req := &produceRequest{topic: op.tp.topic, partition: op.tp.partition, records: buildKeyedBatch(c.recordKey(op), op.value, op.timestampMs),
		acks: op.acks, timeoutMs: int32(w.timing.requestTimeoutMs - 1000)}
	if op.headerMaxMs != 0 {
		logstore.SetBatchCreateTime(req.records, op.headerMaxMs)
	}
	c.call(leader, req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*produceResponse)
		switch {
		case errors.Is(err, errUnreachable):
			op.lastError = err.Error()
		case err != nil || resp == nil:
			op.ambiguous, op.lastError = true, errTimeout.Error()
		case resp.errorCode == 0:
			op.offset = resp.baseOffset
			op.appendTimeMs, op.appendTimeKnown = resp.logAppendTimeMs, true
			if w.recreatedAck(op, resp.topicID) {
				// Acknowledged by a deleted topic's replica: gone with it.
				op.ambiguous = true
				c.finishSend(op, outcomeFail)
				return
			}
			c.finishSend(op, outcomeOK)
			return
		default:
			w.checkTimestampRefusal(op, resp)
			op.lastError = kerr.ErrorForCode(resp.errorCode).Error()
			if !definiteProduceError(resp.errorCode) {
				op.ambiguous = true
			}
			if !retriableProduceError(resp.errorCode) {
				c.finishSend(op, outcomeFail)
				return
			}
		}
		c.refreshMetadata()
		c.at(w.now+w.timing.retryBackoffMs, func() { c.sendAttempt(op) })
	})
}

// finishSend completes a send; a failed one that may have been appended is
// info.
func (c *client) finishSend(op *sendOp, o outcome) {
	w := c.w
	if o == outcomeFail && op.ambiguous {
		o = outcomeInfo
	}
	op.outcome, op.doneMs = o, w.now
	c.busy = false
	c.countSend(op)
}

// countSend counts a completed send in the run's stats and traces it.
func (c *client) countSend(op *sendOp) {
	w := c.w
	switch op.outcome {
	case outcomeOK:
		w.stats.SendsOK++
		if op.acks == -1 {
			w.stats.SendsAcksAllOK++
		}
		w.tracef("%s: send %s ok at %s@%d", c.name(), op.value, op.tp, op.offset)
	case outcomeFail:
		w.stats.SendsFailed++
		w.tracef("%s: send %s failed: %s", c.name(), op.value, op.lastError)
	case outcomeInfo:
		w.stats.SendsInfo++
		w.tracef("%s: send %s unknown: %s", c.name(), op.value, op.lastError)
	}
}

// definiteProduceError says an error proves nothing was appended: the
// replica refused the batch before its append, or the append failed.
// NOT_LEADER_OR_FOLLOWER does not: a leader deposed during an append
// answers it too.
func definiteProduceError(code int16) bool {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.InvalidRequiredAcks.Code,
		kerr.CorruptMessage.Code, kerr.InvalidRecord.Code, kerr.MessageTooLarge.Code, kerr.InvalidTimestamp.Code,
		kerr.KafkaStorageError.Code, kerr.RecordListTooLarge.Code:
		return true
	}
	return false
}

func retriableProduceError(code int16) bool {
	switch code {
	case kerr.InvalidRequiredAcks.Code, kerr.CorruptMessage.Code, kerr.InvalidRecord.Code, kerr.MessageTooLarge.Code,
		kerr.InvalidTimestamp.Code, kerr.RecordListTooLarge.Code:
		return false
	}
	return true
}

// startConsumer runs a consumer that assigns itself every partition it
// learns of and polls each from its position.
func (c *client) startConsumer() {
	c.refreshMetadata()
	c.at(c.w.now+100, c.consumeTick)
}

func (c *client) consumeTick() {
	w := c.w
	if c.stopped {
		return
	}
	c.at(w.now+200, c.consumeTick)
	if w.now-c.meta.lastMs > 2000 {
		c.refreshMetadata()
	}
	for _, name := range c.topicNames() {
		t := c.meta.topics[name]
		for p := range t.partitions {
			tp := tpKey{name, int32(p)}
			if _, ok := c.positions[tp]; !ok {
				c.positions[tp] = 0
			}
			if !c.polling[tp] {
				c.poll(tp)
			}
		}
	}
}

// poll fetches one partition from the consumer's position (consumeTick
// calls it every 200 ms for each partition without a fetch in flight; the
// final reader also at once after an answer that moved it, while the
// partition is behind).
func (c *client) poll(tp tpKey) {
	w := c.w
	leader, epoch := c.leader(tp)
	if leader < 0 {
		c.refreshMetadata()
		return
	}
	c.polling[tp] = true
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 200, 1, 1<<20
	if c.readCommitted {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = tp.topic
	// By topic id (Fetch v13) once the metadata named it, as today's
	// clients fetch: a fetch of a deleted topic's id is answered
	// UNKNOWN_TOPIC_ID, never with the records of a topic created again
	// under its name (topic_recreate.go).
	// (The request keeps the name, which v13 does not carry on the wire,
	// for the serve-by-name plant only.)
	id := c.meta.topics[tp.topic].id
	if id != (cluster.TopicID{}) {
		req.Version, rt.TopicID = 13, id
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = tp.partition, c.positions[tp], epoch, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	position, sentMs := c.positions[tp], w.now
	c.call(leader, req, w.timing.requestTimeoutMs, func(body any, err error) {
		c.polling[tp] = false
		resp, _ := body.(*kmsg.FetchResponse)
		if err != nil || resp == nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refreshMetadata()
			return
		}
		rp := &resp.Topics[0].Partitions[0]
		if rp.ErrorCode == kerr.UnknownTopicID.Code {
			w.stats.UnknownTopicIDFetches++
		}
		if id != (cluster.TopicID{}) {
			w.checkRecreatedPollAnswer(c.id, tp, id, rp, c.readCommitted)
			if w.retiredPoll(id) {
				// A deleted topic's: the checkers forgot its history.
				c.refreshMetadata()
				return
			}
		}
		c.polled(tp, position, sentMs, rp)
		if c.final && !c.stopped && c.positions[tp] > position && c.positions[tp] < c.highWatermarks[tp] {
			// The final reader fetches again at once while it moves
			// and the partition is still behind, as a real consumer
			// does, instead of waiting for its next tick: a large
			// log (one fetch per segment) is read at the speed of
			// the brokers, not of the ticks.
			c.poll(tp)
		}
	})
}

// polled takes a poll's answer.
func (c *client) polled(tp tpKey, position, sentMs int64, rp *kmsg.FetchResponseTopicPartition) {
	w := c.w
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		// auto.offset.reset=earliest: a log truncated below the position
		// (a loss) or a position below the log start.
		to := max(rp.LogStartOffset, 0)
		w.hist.seek(c.id, tp, position, to, w.now)
		c.positionReset(tp)
		w.tracef("%s: %s position %d out of range, reset to %d", c.name(), tp, position, to)
		c.positions[tp] = to
		if c.member != nil {
			c.member.startedAt(tp, to)
		}
		return
	default:
		c.refreshMetadata()
		return
	}
	if rp.HighWatermark >= 0 {
		c.highWatermarks[tp] = rp.HighWatermark
	}
	if len(rp.RecordBatches) == 0 || c.positions[tp] != position {
		return
	}
	recs, next, err := decodeRecords(rp.RecordBatches, rp.AbortedTransactions, c.readCommitted)
	if err != nil {
		w.violation("Q1", fmt.Sprintf("%s: %s: records from offset %d do not decode: %v", c.name(), tp, position, err))
		return
	}
	var kept []readRecord
	for _, r := range recs {
		if r.offset >= position {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		if next > position {
			// Only batches compaction emptied: past them.
			c.positions[tp] = next
			w.stats.ConsumerEmptyStretches += countEmptyStretches(rp.RecordBatches)
		}
		return
	}
	w.stats.Polls++
	w.stats.RecordsRead += int64(len(kept))
	op := w.hist.poll(c.id, tp, position, kept, w.now, c.final)
	op.committed, op.sentMs = c.readCommitted, sentMs
	w.tracef("%s: poll %s from %d: %d records to %d", c.name(), tp, position, len(kept), kept[len(kept)-1].offset)
	c.positions[tp] = kept[len(kept)-1].offset + 1
	if c.member != nil {
		c.delivered(tp, kept)
	}
}

// startAdmin starts the admin's ticks (adminTick), which create the topics
// and partitions the workload asks for.
func (c *client) startAdmin() {
	c.refreshMetadata()
	c.at(c.w.now+500, c.adminTick)
}

func (c *client) adminTick() {
	w := c.w
	if c.stopped {
		return
	}
	c.at(w.now+1000, c.adminTick)
	c.refreshMetadata()
	if len(c.pendingTopics) > 0 {
		c.createTopic(c.pendingTopics[0])
	}
	if w.opts.Plant == PlantUncleanElect {
		c.electUncleanly()
	}
}

// controller is where the admin sends controller requests.
func (c *client) controller() int32 {
	if c.meta.controller >= 0 {
		return c.meta.controller
	}
	return c.w.voters[c.meta.next%len(c.w.voters)]
}

func (c *client) createTopic(spec topicSpec) {
	w := c.w
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.TimeoutMillis = 5000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = spec.name, spec.partitions, spec.rf
	if spec.assign != nil {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, spec.assign
		t.NumPartitions, t.ReplicationFactor, t.ReplicaAssignment = -1, -1, append(t.ReplicaAssignment, a)
	}
	configs := [][2]string{{"min.insync.replicas", fmt.Sprint(spec.minISR)}, {"unclean.leader.election.enable", fmt.Sprint(spec.unclean)},
		{"segment.bytes", "65536"}}
	if spec.compacted {
		configs = append(configs[:2], compactedTopicConfigs()...)
	}
	configs = append(configs, w.ownRetentionOff(spec)...)
	if spec.segmentBytes > 0 {
		for i := range configs {
			if configs[i][0] == "segment.bytes" {
				configs[i][1] = fmt.Sprint(spec.segmentBytes)
			}
		}
	}
	if spec.logAppendTime {
		configs = append(configs, [2]string{"message.timestamp.type", "LogAppendTime"})
		if !w.logAppendTimeTopics[spec.name] {
			w.logAppendTimeTopics[spec.name] = true
			w.timelinef("client: topic %s is created with message.timestamp.type=LogAppendTime", spec.name)
		}
	}
	for _, kv := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = kv[0], kmsg.StringPtr(kv[1])
		t.Configs = append(t.Configs, cfg)
	}
	req.Topics = append(req.Topics, t)
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.CreateTopicsResponse)
		if err != nil || resp == nil || len(resp.Topics) != 1 {
			c.meta.next++
			return
		}
		switch code := resp.Topics[0].ErrorCode; code {
		case 0, kerr.TopicAlreadyExists.Code:
			if len(c.pendingTopics) > 0 && c.pendingTopics[0].name == spec.name {
				c.pendingTopics = c.pendingTopics[1:]
				if code == 0 {
					w.stats.TopicsCreated++
				}
			}
		case kerr.NotController.Code:
			c.meta.next++
			c.meta.controller = -1
		}
	})
}

// createPartitions grows a topic by one partition.
func (c *client) createPartitions(topic string) {
	w := c.w
	t, ok := c.meta.topics[topic]
	if !ok {
		return
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 5000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, int32(len(t.partitions)+1)
	req.Topics = append(req.Topics, rt)
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.CreatePartitionsResponse)
		if err == nil && resp != nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			w.stats.PartitionsAdded++
			w.timelinef("admin: %s grows to %d partitions", topic, rt.Count)
		}
	})
}

// electUncleanly is the unclean-elect plant: an operator asks for unclean
// elections of every leaderless partition, whatever its topic's
// unclean.leader.election.enable says.
func (c *client) electUncleanly() {
	w := c.w
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = 2
	req.ElectionType = 1
	for _, name := range c.topicNames() {
		t := c.meta.topics[name]
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = name
		for _, p := range t.partitions {
			if p.Leader < 0 {
				rt.Partitions = append(rt.Partitions, p.Partition)
			}
		}
		if len(rt.Partitions) > 0 {
			req.Topics = append(req.Topics, rt)
		}
	}
	if len(req.Topics) == 0 {
		return
	}
	w.stats.PlantFired++
	c.call(c.controller(), req, w.timing.requestTimeoutMs, func(any, error) {})
}

// countEmptyStretches counts the batches a leader answered over a stretch
// of its log that holds no batch (logstore.IsEmptyStretchBatch).
func countEmptyStretches(p []byte) int64 {
	var n int64
	for len(p) > 0 {
		size, err := logstore.BatchSize(p)
		if err != nil || size > len(p) {
			return n
		}
		if b, err := logstore.ParseBatch(p[:size]); err == nil && logstore.IsEmptyStretchBatch(&b) {
			n++
		}
		p = p[size:]
	}
	return n
}

package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/logstore/internaltopic"
)

// The group coordinators: as in production (actors/group_coordinator.go),
// the node that leads partition P of __consumer_offsets runs the
// groups.Coordinator of P: it loads the partition, serves the group
// requests of the groups that hash to P, appends the core's records to P
// like a produce with acks=all and replies once they are acknowledged.
// When the node stops leading P (or leads it in a new leader epoch) the
// coordinator stops, answering NOT_COORDINATOR; the next leader loads P
// afresh. As in production, it loads through reads planned on the log and
// read later (coordinator_load.go). One difference: a new coordinator starts
// loading only once the leader's high watermark reached its log end.

// offsetsPartitions is offsets.topic.num.partitions in the simulator
// (Kafka: 50).
const offsetsPartitions = 3

// groupHost is the shell of one __consumer_offsets partition's coordinator.
type groupHost struct {
	n         *node
	key       tpKey
	epoch     int32
	core      *groups.Coordinator
	loaded    bool
	loading   *partitionLoad
	waiting   map[internaltopic.RequestID]*message
	nextID    internaltopic.RequestID
	topicsEra int64
	// gate holds requests and ticks while the broker lease has lapsed
	// (node_group_hold.go); recheckArmed says a look at the lease is
	// scheduled.
	gate         groups.LeaseGate[heldGroupRequest]
	recheckArmed bool
	// lastAssigned is, for the double-owner plant, the last assignment
	// each group's coordinator handed a member: its member, epoch and
	// partitions.
	lastAssigned map[string]plantedAssignment
}

type plantedAssignment struct {
	member string
	epoch  int32
	topics []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic
}

// groupCoreConfig is the coordinator's configuration: Kafka's defaults with
// a consumer session of 10 s and heartbeats every second (Kafka: 45 s and
// 5 s), so that minute-long runs go through sessions that expire.
func (w *World) groupCoreConfig() groups.Config {
	return groups.Config{Entropy: w.ids, Consumer: groups.ConsumerConfig{SessionTimeoutMs: 10_000, HeartbeatIntervalMs: 1000}}
}

// syncCoordinators starts a coordinator for each __consumer_offsets
// partition the node leads and stops those of partitions it no longer
// leads (in the same leader epoch).
func (n *node) syncCoordinators() {
	if !n.up {
		return
	}
	for p := int32(0); p < int32(len(n.coords)); p++ {
		gh := n.coords[p]
		if gh == nil {
			continue
		}
		h := n.replicas[gh.key]
		if h == nil || h.core == nil || !h.core.IsLeader() || h.core.LeaderEpoch() != gh.epoch {
			gh.stop()
			n.coords[p] = nil
		}
	}
	for _, k := range n.keys {
		if k.topic != groups.OffsetsTopic || k.partition >= offsetsPartitions {
			continue
		}
		h := n.replicas[k]
		if h == nil || h.core == nil || !h.core.IsLeader() {
			continue
		}
		if n.coords == nil {
			n.coords = make([]*groupHost, offsetsPartitions)
		}
		gh := n.coords[k.partition]
		if gh == nil {
			gh = &groupHost{n: n, key: k, epoch: h.core.LeaderEpoch(), core: groups.NewCoordinator(n.w.groupCoreConfig()),
				waiting: map[internaltopic.RequestID]*message{}, topicsEra: -1, lastAssigned: map[string]plantedAssignment{}}
			n.coords[k.partition] = gh
			n.w.tracef("%s: group coordinator of %s starts (leader epoch %d)", n.name(), k, gh.epoch)
		}
		if !gh.loaded {
			gh.load(h)
		}
	}
}

// load starts loading the partition once the leader's high watermark
// reached its log end; its reads are events (coordinator_load.go).
func (gh *groupHost) load(h *replicaHost) {
	if gh.loading != nil || h.core.HighWatermark() < h.core.LogEndOffset() {
		return
	}
	n, core := gh.n, gh.core
	gh.loading = &partitionLoad{n: n, key: gh.key, what: "group coordinator", current: func() bool { return gh.core == core && core != nil },
		feed: core.Load,
		loaded: func() {
			gh.loaded = true
			gh.refreshTopics()
			core.Loaded(gh.now())
			n.w.tracef("%s: group coordinator of %s loaded %d records", n.name(), gh.key, core.LoadedRecords())
			gh.carryOut()
		},
		restart: func() {
			gh.stop()
			n.coords[gh.key.partition] = nil
		},
		fail: func(err error) {
			n.w.violation("S11", fmt.Sprintf("%s: group coordinator of %s cannot load the partition: %v", n.name(), gh.key, err))
		}}
	gh.loading.start(h.log.LogStartOffset())
}

func (gh *groupHost) now() internaltopic.Time {
	now := gh.n.instant()
	return internaltopic.Time{WallMs: now.WallMs, MonoMs: now.MonoMs}
}

// refreshTopics tells the core the topics of the node's image when it
// changed.
func (gh *groupHost) refreshTopics() {
	img := gh.n.image
	if img.Epoch == gh.topicsEra {
		return
	}
	gh.topicsEra = img.Epoch
	var topics []groups.Topic
	for t := range img.Topics() {
		topics = append(topics, groups.Topic{Name: t.Name, ID: t.ID, Partitions: t.PartitionCount()})
	}
	if gh.n.w.opts.Plant == PlantOffsetsOutliveTopic {
		topics = gh.n.w.plantTopicsEverSeen(topics)
	}
	gh.core.SetTopics(topics, gh.now())
}

// plantTopicsEverSeen is, for the offsets-outlive-topic plant, every topic
// any coordinator was told of, each under the first id it was told: the
// cores never see a topic deleted, nor created again.
func (w *World) plantTopicsEverSeen(topics []groups.Topic) []groups.Topic {
	if w.plantTopics == nil {
		w.plantTopics = map[string]groups.Topic{}
	}
	for _, t := range topics {
		if _, ok := w.plantTopics[t.Name]; !ok {
			w.plantTopics[t.Name] = t
		}
	}
	out := make([]groups.Topic, 0, len(w.plantTopics))
	for _, t := range w.plantTopics {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b groups.Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// serveGroup routes a group request to the coordinator of its group.
func (n *node) serveGroup(m *message, req kmsg.Request, group string) {
	p := groups.PartitionFor(group, offsetsPartitions)
	var gh *groupHost
	if int(p) < len(n.coords) {
		gh = n.coords[p]
	}
	if gh == nil {
		n.w.respond(m, groups.ErrorResponse(req, kerr.NotCoordinator.Code))
		return
	}
	gh.admit(m, req)
}

// carryOut appends the core's records and sends its replies (the core
// holds each until the records before it are acknowledged). When the core
// reverted after a failed append, the coordinator starts over from the
// partition, as Kafka's reverts to its last committed state: the outcomes
// of its appends in flight go nowhere, and syncCoordinators starts a new one
// once the partition's high watermark reached its log end.
func (gh *groupHost) carryOut() {
	for gh.core != nil {
		rd := gh.core.Ready()
		if rd.Empty() {
			return
		}
		for _, ap := range rd.Appends {
			gh.append(ap)
		}
		for _, r := range rd.Replies {
			m := gh.waiting[r.ID]
			if m == nil {
				continue
			}
			delete(gh.waiting, r.ID)
			if hb, ok := r.Response.(*kmsg.ConsumerGroupHeartbeatResponse); ok {
				gh.plantDoubleOwner(m, hb)
			}
			gh.n.w.respond(m, r.Response)
		}
		if rd.Reload {
			gh.n.w.tracef("%s: group coordinator of %s reverts after a failed append", gh.n.name(), gh.key)
			gh.stop()
			gh.n.coords[gh.key.partition] = nil
		}
	}
}

// append writes records to the partition with acks=all; the outcome goes
// back to the core after the current event's work. A transactional append
// (a TxnOffsetCommit's offsets) is a batch of its producer, verified or
// added to the transaction by the partition as the request's version
// says, as production writes it (actors/group_appends.go).
func (gh *groupHost) append(ap groups.Append) {
	n := gh.n
	h := n.replicas[gh.key]
	if h == nil || h.core == nil {
		id := ap.ID
		n.post(func() { gh.appended(id, kerr.NotLeaderForPartition.Code) })
		return
	}
	id := ap.ID
	wid := h.await(waiter{kind: waitGroupAppend, done: func(code int16) { gh.appended(id, code) }})
	req := cluster.ProduceRequest{Records: groups.EncodeBatch(ap.Records, n.instant().WallMs), Acks: -1,
		TimeoutMs: int32(n.w.timing.requestTimeoutMs)}
	if pr := ap.Producer; pr != nil {
		req.Records = groups.EncodeTxnBatch(ap.Records, n.instant().WallMs, *pr)
		req.TransactionalID, req.TxnOperation = pr.TransactionalID, cluster.TxnOperationForTxnOffsetCommit(pr.TxnOffsetCommitVersion)
	}
	h.deliver(func() {
		h.core.Produce(wid, req, n.instant())
		h.carryOut()
	})
}

func (gh *groupHost) appended(id internaltopic.AppendID, code int16) {
	n := gh.n
	n.w.tracef("%s: group coordinator of %s: append %d answered %s", n.name(), gh.key, id, errorName(code))
	if gh.core == nil {
		return
	}
	gh.core.Appended(id, code, gh.now())
	gh.carryOut()
}

// tick ticks the core when its deadline passed.
func (gh *groupHost) tick(nowMono int64) {
	if gh.core == nil || !gh.loaded || gh.gate.Holding() || nowMono < gh.core.NextDeadlineMs() {
		return
	}
	gh.gateOutcome(gh.gate.Tick(gh.n.leaseHolds(), nowMono))
}

// deadlineMs is the core's next deadline (monotonic), never while loading.
func (gh *groupHost) deadlineMs() int64 {
	if gh.core == nil || !gh.loaded || gh.gate.Holding() {
		return math.MaxInt64
	}
	return gh.core.NextDeadlineMs()
}

// stop ends the coordinator: every request it owes an answer is told
// NOT_COORDINATOR (a TxnOffsetCommit too, which comes in a txnEnvelope).
func (gh *groupHost) stop() {
	gh.answerHeld()
	for _, id := range sortedIDs(gh.waiting) {
		m := gh.waiting[id]
		req, ok := m.body.(kmsg.Request)
		if env, isTxn := m.body.(*txnEnvelope); isTxn {
			// A TxnOffsetCommit (node_txn.go).
			req, ok = env.body, true
		}
		if !ok {
			panic(fmt.Sprintf("sim: %s's group coordinator waits on a %T", gh.n.name(), m.body))
		}
		gh.n.w.respond(m, groups.ErrorResponse(req, kerr.NotCoordinator.Code))
	}
	gh.waiting = nil
	gh.core = nil
	gh.n.w.tracef("%s: group coordinator of %s stops", gh.n.name(), gh.key)
}

// plantDoubleOwner is the double-owner plant: when a member gets an
// assignment at the epoch another member of its group last got one, the
// other member's first partition is added to it.
func (gh *groupHost) plantDoubleOwner(m *message, resp *kmsg.ConsumerGroupHeartbeatResponse) {
	req, ok := m.body.(*kmsg.ConsumerGroupHeartbeatRequest)
	if gh.n.w.opts.Plant != PlantDoubleOwner || !ok || resp.ErrorCode != 0 || resp.Assignment == nil || resp.MemberID == nil {
		return
	}
	prev, had := gh.lastAssigned[req.Group]
	gh.lastAssigned[req.Group] = plantedAssignment{member: *resp.MemberID, epoch: resp.MemberEpoch, topics: resp.Assignment.Topics}
	if !had || prev.member == *resp.MemberID || prev.epoch != resp.MemberEpoch || len(prev.topics) == 0 || len(prev.topics[0].Partitions) == 0 {
		return
	}
	stolen := kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{TopicID: prev.topics[0].TopicID, Partitions: prev.topics[0].Partitions[:1]}
	a := *resp.Assignment
	a.Topics = append(append([]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic(nil), a.Topics...), stolen)
	resp.Assignment = &a
	gh.n.w.stats.PlantFired++
}

// errorName is a Kafka error code's name ("ok" for 0).
func errorName(code int16) string {
	if code == 0 {
		return "ok"
	}
	return kerr.ErrorForCode(code).Error()
}

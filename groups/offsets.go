package groups

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// OffsetCommit, OffsetFetch, OffsetDelete and the expiry of offsets.

// commitAnswer is an OffsetCommit's answer being built: codes[i][j] is the
// answer for req.Topics[i].Partitions[j].
type commitAnswer struct {
	req   *kmsg.OffsetCommitRequest
	codes [][]int16
}

func newCommitAnswer(req *kmsg.OffsetCommitRequest) *commitAnswer {
	a := &commitAnswer{req: req, codes: make([][]int16, len(req.Topics))}
	for i, t := range req.Topics {
		a.codes[i] = make([]int16, len(t.Partitions))
	}
	return a
}

func (a *commitAnswer) setAll(code int16) {
	for i := range a.codes {
		for j := range a.codes[i] {
			a.codes[i][j] = code
		}
	}
}

// setUnrefused answers code for every partition not refused already.
func (a *commitAnswer) setUnrefused(code int16) {
	for i := range a.codes {
		for j := range a.codes[i] {
			if a.codes[i][j] == 0 {
				a.codes[i][j] = code
			}
		}
	}
}

func (a *commitAnswer) response() *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = a.req.Version
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, 0, len(a.req.Topics))
	for i, t := range a.req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, 0, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, a.codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// plannedCommit is one partition of an OffsetCommit to write.
type plannedCommit struct {
	i, j  int
	tp    topicPartition
	entry offsetEntry
}

func (c *Coordinator) offsetCommit(id internaltopic.RequestID, req *kmsg.OffsetCommitRequest, now internaltopic.Time) {
	ans := newCommitAnswer(req)
	if !c.refuseUnknownPartitions(req, ans) {
		c.reply(id, ans.response())
		return
	}
	created := c.groups[req.Group] == nil
	g, fence, code := c.offsetCommitGroup(req, false, now)
	if code != 0 {
		ans.setUnrefused(code)
		c.reply(id, ans.response())
		return
	}
	commits := c.planCommits(req, ans, fence, now)
	if len(commits) == 0 {
		c.reply(id, ans.response())
		return
	}
	records := offsetCommitRecords(g.id, commits)
	for _, cm := range commits {
		g.pendingCommits[cm.tp]++
	}
	c.appendRefusable(records, nil, func(code int16, _ internaltopic.Time) {
		for _, cm := range commits {
			ans.codes[cm.i][cm.j] = commitErrorCode(code)
			if g.pendingCommits[cm.tp] == 0 {
				// Deleted while appending: the deletion came after.
				continue
			}
			if g.pendingCommits[cm.tp]--; g.pendingCommits[cm.tp] == 0 {
				delete(g.pendingCommits, cm.tp)
			}
			if code == 0 && c.groups[g.id] == g && !c.staleOffset(cm.tp, cm.entry) {
				g.offsets[cm.tp] = cm.entry
			}
		}
		if code != 0 && created {
			c.dropUnwrittenGroup(g)
		}
		c.reply(id, ans.response())
	})
}

// partitionFence refuses a partition of an offset commit whose committer
// the group accepted (an error code), or accepts it (0); a nil fence
// accepts every partition.
type partitionFence func(tp topicPartition) int16

// refuseUnknownPartitions answers, in ans, UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID to a commit by topic id) for each partition of req
// whose topic or partition does not exist, and says whether any partition
// is left. Kafka's brokers take these partitions out of an OffsetCommit or
// TxnOffsetCommit before handing it to the group coordinator, and answer
// one with none left without it: its group is neither checked nor
// created (a commit naming only a deleted topic makes no empty group in
// ListGroups), and the group's own refusal covers only the partitions
// left.
func (c *Coordinator) refuseUnknownPartitions(req *kmsg.OffsetCommitRequest, ans *commitAnswer) bool {
	left := false
	byID := req.Version >= 10
	for i, t := range req.Topics {
		name, known := c.commitTopic(t.Topic, t.TopicID, byID)
		for j, p := range t.Partitions {
			switch {
			case !known && byID:
				ans.codes[i][j] = kerr.UnknownTopicID.Code
			case !known || p.Partition < 0 || p.Partition >= c.topics.byName[name].Partitions:
				ans.codes[i][j] = kerr.UnknownTopicOrPartition.Code
			default:
				left = true
			}
		}
	}
	return left
}

// commitTopic is the name of a committed topic, by id from OffsetCommit
// v10 on, and whether the coordinator knows it.
func (c *Coordinator) commitTopic(name string, id [16]byte, byID bool) (string, bool) {
	if byID {
		return c.topics.nameOf(id)
	}
	_, known := c.topics.byName[name]
	return name, known
}

// planCommits checks each partition of an OffsetCommit (the topic exists,
// the metadata fits, the fence lets it through), noting refusals in ans,
// and returns the commits to write.
func (c *Coordinator) planCommits(req *kmsg.OffsetCommitRequest, ans *commitAnswer, fence partitionFence, now internaltopic.Time) []plannedCommit {
	n := 0
	for _, t := range req.Topics {
		n += len(t.Partitions)
	}
	commits := make([]plannedCommit, 0, n)
	byID := req.Version >= 10
	for i, t := range req.Topics {
		name, known := c.commitTopic(t.Topic, t.TopicID, byID)
		for j, p := range t.Partitions {
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			switch {
			case !known && byID:
				ans.codes[i][j] = kerr.UnknownTopicID.Code
			case !known || p.Partition < 0 || p.Partition >= c.topics.byName[name].Partitions:
				ans.codes[i][j] = kerr.UnknownTopicOrPartition.Code
			case len(meta) > c.cfg.OffsetMetadataMaxBytes:
				ans.codes[i][j] = kerr.OffsetMetadataTooLarge.Code
			case fence != nil && fence(topicPartition{topic: name, partition: p.Partition}) != 0:
				ans.codes[i][j] = fence(topicPartition{topic: name, partition: p.Partition}) // a pure check
			default:
				e := offsetEntry{offset: p.Offset, leaderEpoch: p.LeaderEpoch, metadata: meta, commitWallMs: now.WallMs, topicID: c.topics.byName[name].ID}
				switch {
				case req.Version == 1 && p.Timestamp >= 0:
					e.commitWallMs = p.Timestamp
					e.expireWallMs = p.Timestamp + c.cfg.OffsetsRetentionMs
				case req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0:
					e.expireWallMs = now.WallMs + req.RetentionTimeMillis
				}
				commits = append(commits, plannedCommit{i: i, j: j, tp: topicPartition{topic: name, partition: p.Partition}, entry: e})
			}
		}
	}
	return commits
}

// offsetCommitGroup finds (or, for a commit outside group management,
// creates) the group an OffsetCommit commits to, and checks the committer
// may: an error code refuses every partition; a fence, some of them.
// transactional says req stands for a TxnOffsetCommit.
func (c *Coordinator) offsetCommitGroup(req *kmsg.OffsetCommitRequest, transactional bool, now internaltopic.Time) (*group, partitionFence, int16) {
	g, code := c.offsetCommitGroupOf(req, transactional, now)
	if code != 0 || g.kind != kindConsumer {
		return g, nil, code
	}
	if transactional && anonymousCommit(req) {
		// As for a classic group: TxnOffsetCommit before v3 names no
		// member (see offsetCommitGroupOf).
		return g, nil, 0
	}
	generation := req.Generation
	if req.Version == 0 {
		generation = -1
	}
	if !transactional && req.Version < 9 && g.consumer.members[req.MemberID] != nil {
		// A KIP-848 member commits with OffsetCommit v9 or later, as
		// Kafka requires.
		return nil, nil, kerr.UnsupportedVersion.Code
	}
	fence, code := c.validateConsumerOffsetCommit(g, req.MemberID, generation)
	if code != 0 {
		return nil, nil, code
	}
	return g, fence, 0
}

// anonymousCommit says req names no member, generation or instance.
func anonymousCommit(req *kmsg.OffsetCommitRequest) bool {
	return (req.Generation < 0 || req.Version == 0) && req.MemberID == "" && req.InstanceID == nil
}

// offsetCommitGroupOf finds or creates the group of an OffsetCommit and
// checks the committer of a classic group; offsetCommitGroup checks that of
// a consumer group. transactional says req stands for a TxnOffsetCommit.
func (c *Coordinator) offsetCommitGroupOf(req *kmsg.OffsetCommitRequest, transactional bool, now internaltopic.Time) (*group, int16) {
	// Kafka's coordinator takes offset commits for the group id "" from old
	// clients (describes, fetches and deletes them too), but no
	// transaction's commit.
	if req.Group == "" && transactional {
		return nil, kerr.InvalidGroupID.Code
	}
	generation := req.Generation
	if req.Version == 0 {
		generation = -1
	}
	g := c.groups[req.Group]
	if g == nil {
		switch {
		case generation < 0:
			// A consumer that only stores offsets here, or an
			// administrator: a simple group is made for them.
			g = newClassicGroup(req.Group, now)
			c.groups[g.id] = g
			return g, 0
		case req.Version >= 9:
			return nil, kerr.GroupIDNotFound.Code
		}
		return nil, kerr.IllegalGeneration.Code
	}
	if g.kind == kindConsumer {
		return g, 0
	}
	switch {
	case g.state == stateDead:
		return nil, kerr.CoordinatorNotAvailable.Code
	case generation < 0 && g.state == stateEmpty:
		return g, 0
	case generation >= 0 || req.MemberID != "" || req.InstanceID != nil:
		if g.staticFenced(req.InstanceID, req.MemberID) {
			return nil, kerr.FencedInstanceID.Code
		}
		m, ok := g.byID[req.MemberID]
		if !ok {
			return nil, kerr.UnknownMemberID.Code
		}
		if generation != g.generation {
			return nil, kerr.IllegalGeneration.Code
		}
		if g.state == stateCompletingRebalance {
			// The member has its generation before its assignment.
			return nil, kerr.RebalanceInProgress.Code
		}
		c.heartbeated(m, now)
		return g, 0
	}
	if transactional {
		// TxnOffsetCommit before v3 has no member or generation
		// (KafkaJS sends v1): Kafka takes such a commit whatever the
		// group's state, the producer's transaction fencing it.
		return g, 0
	}
	// No member or generation: only an empty group takes it.
	return nil, kerr.UnknownMemberID.Code
}

// offsetFetch answers OffsetFetch from the committed offsets: one group up
// to v7, several from v8.
func (c *Coordinator) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = req.Version
	if req.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		if req.Topics != nil {
			topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, t := range req.Topics {
				topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
		}
		rg := c.fetchGroupOffsets(req.Version, kmsg.OffsetFetchRequestGroup{Group: req.Group, MemberEpoch: -1, Topics: topics}, req.RequireStable)
		for _, t := range rg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.ErrorCode = rg.ErrorCode
		return resp
	}
	for _, rg := range req.Groups {
		resp.Groups = append(resp.Groups, c.fetchGroupOffsets(req.Version, rg, req.RequireStable))
	}
	return resp
}

// fetchGroupOffsets answers one group of an OffsetFetch: the partitions
// asked for (nil topics: every committed one), -1 for those never committed.
func (c *Coordinator) fetchGroupOffsets(version int16, rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = rg.Group
	byID := version >= 10
	g := c.groups[rg.Group]
	if g != nil && g.kind == kindConsumer && rg.MemberID != nil {
		if code := c.validateConsumerOffsetFetch(g, *rg.MemberID, rg.MemberEpoch); code != 0 {
			out.ErrorCode = code
			return out
		}
	}
	part := func(tp topicPartition) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = tp.partition, -1, -1, kmsg.StringPtr("")
		switch {
		case g == nil:
		case requireStable && (g.pendingCommits[tp] > 0 || c.txnOffsetPending(g.id, tp)):
			rp.ErrorCode = kerr.UnstableOffsetCommit.Code
		default:
			if e, ok := g.offsets[tp]; ok {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = e.offset, e.leaderEpoch, kmsg.StringPtr(e.metadata)
			}
		}
		return rp
	}
	if rg.Topics == nil {
		if g == nil {
			return out
		}
		for _, tp := range g.sortedOffsets() {
			n := len(out.Topics)
			if n == 0 || out.Topics[n-1].Topic != tp.topic {
				rt := kmsg.NewOffsetFetchResponseGroupTopic()
				rt.Topic = tp.topic
				if byID {
					rt.TopicID = c.topics.byName[tp.topic].ID
				}
				out.Topics = append(out.Topics, rt)
				n++
			}
			out.Topics[n-1].Partitions = append(out.Topics[n-1].Partitions, part(tp))
		}
		return out
	}
	for _, t := range rg.Topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name, known := t.Topic, true
		if byID {
			name, known = c.topics.nameOf(t.TopicID)
		}
		for _, p := range t.Partitions {
			rp := part(topicPartition{topic: name, partition: p})
			if !known {
				rp = kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, kerr.UnknownTopicID.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

func (c *Coordinator) offsetDelete(id internaltopic.RequestID, req *kmsg.OffsetDeleteRequest, now internaltopic.Time) {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	resp.Version = req.Version
	g := c.groups[req.Group]
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil || g.state == stateDead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.kind == kindClassic && !g.isEmpty() && g.protocolType != "consumer":
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		c.reply(id, resp)
		return
	}
	var tombstones []internaltopic.Record
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		subscribed := g.subscribedTo(t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{topic: t.Topic, partition: p.Partition}
			topic, known := c.topics.byName[t.Topic]
			switch {
			case !known || p.Partition < 0 || p.Partition >= topic.Partitions:
				// Kafka's brokers answer a partition that does not
				// exist before the group coordinator sees it; a
				// deleted topic's offsets are already gone.
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribed:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				if _, ok := g.offsets[tp]; ok || g.pendingCommits[tp] > 0 {
					tombstones = append(tombstones, offsetTombstone(g.id, tp))
					delete(g.offsets, tp)
					delete(g.pendingCommits, tp)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(tombstones) == 0 {
		c.reply(id, resp)
		return
	}
	c.appendTombstones(tombstones, func(code int16, _ internaltopic.Time) {
		if code != 0 {
			resp.ErrorCode = storeErrorCode(code)
		}
		c.reply(id, resp)
	})
}

// subscribedTo says whether an active group's members consume topic.
func (g *group) subscribedTo(topic string) bool {
	if g.kind == kindConsumer {
		return g.consumer.subscribedTo(topic)
	}
	return g.state != stateEmpty && g.subscribedTopics[topic]
}

// expireOffsets drops the offsets whose retention passed (KIP-211): all of
// an empty group's, counting from when it became empty; those of topics a
// stable consumer group no longer subscribes to; a simple group's, counting
// from each commit. An empty group left with no offsets is deleted.
func (c *Coordinator) expireOffsets(now internaltopic.Time) {
	var tombstones []internaltopic.Record
	for _, g := range c.sortedGroups() {
		var base func(e offsetEntry) int64
		switch {
		case g.kind == kindConsumer && g.isEmpty():
			since := g.stateSinceWallMs
			base = func(offsetEntry) int64 { return since }
		case g.kind == kindConsumer:
			base = func(e offsetEntry) int64 { return e.commitWallMs }
		case g.protocolType == "" && g.state == stateEmpty:
			base = func(e offsetEntry) int64 { return e.commitWallMs }
		case g.state == stateEmpty:
			since := g.stateSinceWallMs
			base = func(offsetEntry) int64 { return since }
		case g.state == stateStable && g.subscribedTopics != nil:
			base = func(e offsetEntry) int64 { return e.commitWallMs }
		}
		if base != nil {
			for _, tp := range g.sortedOffsets() {
				e := g.offsets[tp]
				if g.pendingCommits[tp] > 0 || !g.isEmpty() && g.subscribedTo(tp.topic) {
					continue
				}
				expired := now.WallMs-base(e) >= c.cfg.OffsetsRetentionMs
				if e.expireWallMs > 0 {
					expired = now.WallMs >= e.expireWallMs
				}
				if expired {
					tombstones = append(tombstones, offsetTombstone(g.id, tp))
					delete(g.offsets, tp)
				}
			}
		}
		if g.isEmpty() && len(g.offsets) == 0 && len(g.pendingCommits) == 0 && !c.groupBusy(g) {
			tombstones = append(tombstones, c.deleteGroupRecords(g)...)
		}
	}
	if len(tombstones) > 0 {
		c.appendTombstones(tombstones, func(int16, internaltopic.Time) {})
	}
}

// groupBusy says whether a classic group is in a rebalance (an empty group
// may be waiting for its first members).
func (c *Coordinator) groupBusy(g *group) bool {
	return g.kind == kindClassic && (g.state == statePreparingRebalance || len(g.pending) > 0)
}

// deleteGroupRecords removes g from memory and returns the tombstones that
// remove it from the log: its offsets and its metadata.
func (c *Coordinator) deleteGroupRecords(g *group) []internaltopic.Record {
	var out []internaltopic.Record
	for _, tp := range g.sortedOffsets() {
		out = append(out, offsetTombstone(g.id, tp))
	}
	if g.kind == kindConsumer {
		out = append(out, c.consumerGroupTombstones(g)...)
	} else {
		out = append(out, groupTombstone(g.id))
	}
	g.transition(stateDead, internaltopic.Time{WallMs: g.stateSinceWallMs})
	delete(c.groups, g.id)
	return out
}

// dropStaleOffsets drops the offsets of topics that no longer exist, as
// Kafka does when a topic is deleted, and those committed for another id
// of their topic's name (deleted and created again): of every topic
// named in deleted, and of those the topic table does not hold under the
// id they were committed for. Tombstones make the log say the same.
func (c *Coordinator) dropStaleOffsets(deleted []string) {
	if c.loading {
		return
	}
	var tombstones []internaltopic.Record
	for _, g := range c.sortedGroups() {
		for _, tp := range g.sortedOffsets() {
			if slices.Contains(deleted, tp.topic) || c.staleOffset(tp, g.offsets[tp]) {
				tombstones = append(tombstones, offsetTombstone(g.id, tp))
				delete(g.offsets, tp)
			}
		}
	}
	if len(tombstones) > 0 {
		c.appendTombstones(tombstones, func(int16, internaltopic.Time) {})
	}
}

// staleOffset says an offset of tp belongs to no topic the table holds:
// its topic is gone, or it was committed for another id of the name. An
// offset read from a record that carries no id is its name's. Before the
// core is told the topics, none is.
func (c *Coordinator) staleOffset(tp topicPartition, e offsetEntry) bool {
	if !c.topicsKnown {
		return false
	}
	t, ok := c.topics.byName[tp.topic]
	return !ok || e.topicID != ([16]byte{}) && e.topicID != t.ID
}

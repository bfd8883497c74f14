package sim

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// A group member consumes in a KIP-848 consumer group: it heartbeats to its
// group's coordinator (the leader of the group's __consumer_offsets
// partition, found from Metadata), takes the assignment the coordinator
// computes, starts each partition it is newly given at the group's
// committed offset, polls its partitions and commits its positions every
// second. It records what it owns at each member epoch and every offset
// commit acknowledged, for the group checkers (check_group.go).

// groupMember is a group client's state.
type groupMember struct {
	group    string
	memberID string
	epoch    int32
	// era is the loss era of the group's partition at the member's last
	// heartbeat answer (check_group.go).
	era int
	// classic members (client_classic.go) use the classic protocol:
	// generation is the one they are in (-1: none, join), lastGeneration
	// the last they synced in since they joined afresh.
	classic                    bool
	generation, lastGeneration int32
	// joinedWith is the topics (and their partition counts) a classic
	// member last joined with: when its metadata shows others, it joins
	// again (a pattern subscription). assignedWith is the same of the
	// metadata a leader assigned from, which may differ from what it
	// joined with (a broker behind answered between): a change from it
	// also brings a rebalance, as the Java consumer's assignment snapshot
	// does.
	joinedWith, assignedWith string

	heartbeating    bool
	nextHeartbeatMs int64
	// assigned are the partitions the member owns, sorted; ready those
	// whose starting position is known; fetching says an OffsetFetch is
	// in flight.
	assigned []tpKey
	ready    map[tpKey]bool
	fetching bool
	// committing says an OffsetCommit is in flight; nextCommitMs when the
	// next one goes; commitFrom where in the member's partitions the next
	// one starts, when they are more than one commit holds.
	committing   bool
	nextCommitMs int64
	commitFrom   int
	// session counts, per partition, the member's spans of stable
	// ownership: a span ends when the partition is revoked or the
	// position reset (a truncated log).
	session map[tpKey]int
	// app is the application of an auto-committing member
	// (client_autocommit.go); nil without auto-commit.
	app *appState
}

func (c *client) startGroupMember(group string, classic bool) {
	c.member = &groupMember{group: group, memberID: c.name() + "-member", ready: map[tpKey]bool{}, session: map[tpKey]int{},
		classic: classic, generation: -1}
	if classic {
		c.member.memberID = ""
	}
	c.refreshMetadata()
	c.at(c.w.now+100, c.groupTick)
}

// groupTick heartbeats, fetches starting offsets, polls and commits when
// due.
func (c *client) groupTick() {
	w, m := c.w, c.member
	if c.stopped {
		return
	}
	c.at(w.now+100, c.groupTick)
	if w.now-c.meta.lastMs > 2000 {
		c.refreshMetadata()
	}
	if m.classic {
		c.classicTick()
	} else if !m.heartbeating && w.now >= m.nextHeartbeatMs {
		c.groupHeartbeat()
	}
	if !m.fetching && len(m.ready) < len(m.assigned) {
		c.fetchCommitted()
	}
	for _, tp := range m.assigned {
		if m.ready[tp] && !c.polling[tp] && !m.busy(tp) {
			c.poll(tp)
		}
	}
	if !m.committing && m.epoch > 0 && w.now >= m.nextCommitMs && len(m.ready) > 0 {
		m.nextCommitMs = w.now + 1000
		c.commitPositions()
	}
}

// coordinator is the leader of the group's __consumer_offsets partition,
// as the client's metadata has it (-1: unknown).
func (c *client) coordinator() int32 {
	leader, _ := c.leader(tpKey{groups.OffsetsTopic, groups.PartitionFor(c.member.group, offsetsPartitions)})
	if leader < 0 {
		c.refreshMetadata()
	}
	return leader
}

func (c *client) groupHeartbeat() {
	w, m := c.w, c.member
	coord := c.coordinator()
	if coord < 0 {
		m.nextHeartbeatMs = w.now + 200
		return
	}
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = m.group, m.memberID, m.epoch, 10_000
	req.SubscribedTopicNames = append([]string{}, c.sharedTopicNames()...)
	if m.epoch > 0 {
		req.Topics = c.ownedTopics()
	}
	sent := m.epoch
	m.heartbeating = true
	c.call(coord, req, w.timing.requestTimeoutMs, func(body any, err error) {
		m.heartbeating = false
		resp, _ := body.(*kmsg.ConsumerGroupHeartbeatResponse)
		switch {
		case err != nil || resp == nil:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		case resp.ErrorCode == 0:
			c.heartbeated(sent, resp)
		case resp.ErrorCode == kerr.FencedMemberEpoch.Code || resp.ErrorCode == kerr.UnknownMemberID.Code:
			c.rejoin(kerr.ErrorForCode(resp.ErrorCode).Error())
		default:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		}
	})
}

// ownedTopics are the member's partitions as a heartbeat lists them
// (never nil: a full heartbeat).
func (c *client) ownedTopics() []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, tp := range c.member.assigned {
		t, ok := c.meta.topics[tp.topic]
		if !ok {
			continue
		}
		if len(out) == 0 || out[len(out)-1].TopicID != t.id {
			out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.id})
		}
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, tp.partition)
	}
	return out
}

// heartbeated takes a heartbeat's answer: the member's epoch, and its new
// assignment if the answer has one.
func (c *client) heartbeated(sent int32, resp *kmsg.ConsumerGroupHeartbeatResponse) {
	w, m := c.w, c.member
	w.tracef("%s: group %s: heartbeat at epoch %d answered: epoch %d, assignment %t", c.name(), m.group, sent, resp.MemberEpoch, resp.Assignment != nil)
	m.nextHeartbeatMs = w.now + int64(max(resp.HeartbeatIntervalMillis, 100))
	w.groupChecks.epoch(c, sent, resp.MemberEpoch)
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		var next []tpKey
		for _, at := range resp.Assignment.Topics {
			name := ""
			for _, tn := range c.topicNamesWithInternal() {
				if c.meta.topics[tn].id == at.TopicID {
					name = tn
				}
			}
			if name == "" {
				c.refreshMetadata()
				continue
			}
			for _, p := range at.Partitions {
				if tp := (tpKey{name, p}); !slices.Contains(next, tp) {
					next = append(next, tp)
				}
			}
		}
		slices.SortFunc(next, compareKeys)
		c.assign(next)
	}
	w.groupChecks.owns(c, m.epoch, m.assigned)
}

func (c *client) topicNamesWithInternal() []string {
	names := c.sharedTopicNames()
	if _, ok := c.meta.topics[groups.OffsetsTopic]; ok {
		names = append(names, groups.OffsetsTopic)
	}
	return names
}

// assign moves the member to a new assignment: revoked partitions are
// dropped, new ones start at the group's committed offset.
func (c *client) assign(next []tpKey) {
	w, m := c.w, c.member
	if slices.Equal(next, m.assigned) {
		return
	}
	for _, tp := range m.assigned {
		if !slices.Contains(next, tp) {
			delete(m.ready, tp)
			delete(c.positions, tp)
			m.dropped(tp)
		}
	}
	for _, tp := range next {
		if !slices.Contains(m.assigned, tp) {
			m.session[tp]++
		}
	}
	m.assigned = next
	w.timelinef("group %s: %s owns %v at member epoch %d", m.group, c.name(), next, m.epoch)
	w.rec.mark(w.now, "rebalance", nil, "group %s: %s owns %v at member epoch %d", m.group, c.name(), next, m.epoch)
}

// rejoin starts the member over at epoch 0 (it was fenced): it owns
// nothing until the coordinator assigns it again.
func (c *client) rejoin(why string) {
	w, m := c.w, c.member
	w.tracef("%s: group %s: rejoins (%s)", c.name(), m.group, why)
	c.assign(nil)
	m.epoch, m.nextHeartbeatMs = 0, w.now
}

// fetchCommitted asks the coordinator for the committed offsets of the
// partitions the member was given and has no position for.
func (c *client) fetchCommitted() {
	w, m := c.w, c.member
	coord := c.coordinator()
	if coord < 0 {
		return
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group, req.RequireStable = 7, m.group, true
	var asked []tpKey
	for _, tp := range m.assigned {
		if m.ready[tp] {
			continue
		}
		asked = append(asked, tp)
		if len(req.Topics) == 0 || req.Topics[len(req.Topics)-1].Topic != tp.topic {
			req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: tp.topic})
		}
		t := &req.Topics[len(req.Topics)-1]
		t.Partitions = append(t.Partitions, tp.partition)
	}
	sessions := map[tpKey]int{}
	for _, tp := range asked {
		sessions[tp] = m.session[tp]
	}
	m.fetching = true
	sentMs := w.now
	c.call(coord, req, w.timing.requestTimeoutMs, func(body any, err error) {
		m.fetching = false
		resp, _ := body.(*kmsg.OffsetFetchResponse)
		if err != nil || resp == nil || resp.ErrorCode != 0 {
			c.refreshMetadata()
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				tp := tpKey{t.Topic, p.Partition}
				if p.ErrorCode == 0 {
					w.checkRecreatedOffset(m.group, tp, sentMs, p.Offset)
				}
				if p.ErrorCode != 0 || !slices.Contains(m.assigned, tp) || m.ready[tp] || m.session[tp] != sessions[tp] {
					continue
				}
				c.positions[tp], m.ready[tp] = max(p.Offset, 0), true
				m.startedAt(tp, c.positions[tp])
				w.tracef("%s: group %s: %s starts at %d", c.name(), m.group, tp, c.positions[tp])
			}
		}
	})
}

// commitPositions commits the member's positions at its epoch.
func (c *client) commitPositions() {
	w, m := c.w, c.member
	coord := c.coordinator()
	if coord < 0 {
		return
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.Generation, req.MemberID = 9, m.group, m.epoch, m.memberID
	if m.classic {
		req.Version = 7
	}
	type sent struct {
		session int
		offset  int64
	}
	what := map[tpKey]sent{}
	var tokens []int
	for _, tp := range c.partitionsToCommit() {
		if len(req.Topics) == 0 || req.Topics[len(req.Topics)-1].Topic != tp.topic {
			req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{Topic: tp.topic})
		}
		t := &req.Topics[len(req.Topics)-1]
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, c.commitOffset(tp)
		t.Partitions = append(t.Partitions, p)
		what[tp] = sent{m.session[tp], p.Offset}
		if token := w.recreatedCommitSent(m.group, tp, p.Offset); token >= 0 {
			tokens = append(tokens, token)
		}
	}
	m.committing = true
	sentMs := w.now
	c.call(coord, req, w.timing.requestTimeoutMs, func(body any, err error) {
		m.committing = false
		for _, token := range tokens {
			w.recreatedCommitAnswered(token, err)
		}
		resp, _ := body.(*kmsg.OffsetCommitResponse)
		if err != nil || resp == nil {
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				tp := tpKey{t.Topic, p.Partition}
				if s, ok := what[tp]; ok && p.ErrorCode == 0 && !w.recreatedCommitStale(tp, sentMs) {
					w.groupChecks.committed(c, tp, s.session, s.offset)
					if m.app != nil {
						m.app.lastCommitSentMs = max(m.app.lastCommitSentMs, sentMs)
					}
				}
			}
		}
	})
}

// commitMaxPartitions bounds the partitions of one offset commit. The
// coordinator writes a commit as one atomic batch, which must fit in a
// segment of __consumer_offsets; the simulator's segments are 2 KiB
// (compactedSegmentBytes, so that they roll and get cleaned within a
// minute), and a commit record takes about 45 bytes. A larger batch is
// refused (RECORD_LIST_TOO_LARGE), the coordinator reverts by loading its
// partition again, and forgets its consumer group members, which it does
// not write: a member owning the 52 partitions of a three-minute run
// (seed 17) committed, was refused and rejoined every second, and its group
// never settled. Production's segments (offsets.topic.segment.bytes,
// 100 MiB) dwarf any commit; a member of more partitions here commits them
// in turns, as a client committing a subset of its offsets may.
const commitMaxPartitions = 32

// partitionsToCommit are the member's ready partitions, sorted, at most
// commitMaxPartitions of them: the next ones in turn when there are more.
func (c *client) partitionsToCommit() []tpKey {
	m := c.member
	var ready []tpKey
	for _, tp := range m.assigned {
		if m.ready[tp] {
			ready = append(ready, tp)
		}
	}
	if len(ready) <= commitMaxPartitions {
		return ready
	}
	from := m.commitFrom % len(ready)
	m.commitFrom = from + commitMaxPartitions
	chunk := append(append([]tpKey{}, ready[from:min(from+commitMaxPartitions, len(ready))]...),
		ready[:max(0, from+commitMaxPartitions-len(ready))]...)
	slices.SortFunc(chunk, compareKeys)
	return chunk
}

// positionReset ends a partition's span of stable ownership: the log was
// truncated below the position, which moves back.
func (c *client) positionReset(tp tpKey) {
	if c.member != nil {
		c.member.session[tp]++
	}
}

func (m *groupMember) String() string { return fmt.Sprintf("%s in %s", m.memberID, m.group) }

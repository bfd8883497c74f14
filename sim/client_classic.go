package sim

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A classic group member (JoinGroup, SyncGroup, Heartbeat; the eager
// "range" assignor computed by the group's leader, as in the clients): it
// joins, the leader assigns, every member learns its partitions at the
// generation from SyncGroup, heartbeats until a rebalance, then gives up
// everything and joins again. What it owns at each generation, its
// generations and its commits go to the same checkers as a KIP-848
// member's.

// classicRPCTimeoutMs bounds a JoinGroup, which waits for the rebalance
// (rebalance timeout 10 s, plus the first rebalance's 3 s delay).
const classicRPCTimeoutMs = 20_000

func (c *client) classicTick() {
	w, m := c.w, c.member
	if sub := c.subscription(); !m.heartbeating && m.generation >= 0 && (sub != m.joinedWith || m.assignedWith != "" && sub != m.assignedWith) {
		// As a consumer subscribed to a pattern does when topics or
		// partitions appear: give everything up and join again.
		w.tracef("%s: group %s: topics changed (%s, joined with %s); joins again", c.name(), m.group, c.subscription(), m.joinedWith)
		c.assign(nil)
		m.generation, m.nextHeartbeatMs = -1, w.now
	}
	if !m.heartbeating && w.now >= m.nextHeartbeatMs {
		if m.generation < 0 {
			c.joinGroup()
		} else {
			c.classicHeartbeat()
		}
	}
}

func (c *client) joinGroup() {
	w, m := c.w, c.member
	coord := c.coordinator()
	if coord < 0 {
		m.nextHeartbeatMs = w.now + 200
		return
	}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version, req.Group, req.MemberID, req.ProtocolType = 5, m.group, m.memberID, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 10_000
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = c.classicTopics()
	if len(meta.Topics) < len(c.sharedTopicNames()) {
		w.stats.ClassicJoinsCapped++
	}
	m.joinedWith, m.assignedWith = c.subscription(), ""
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", meta.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	m.heartbeating = true
	c.call(coord, req, classicRPCTimeoutMs, func(body any, err error) {
		m.heartbeating = false
		resp, _ := body.(*kmsg.JoinGroupResponse)
		if resp != nil {
			w.tracef("%s: group %s: JoinGroup answered %s (generation %d, leader %s)", c.name(), m.group, errorName(resp.ErrorCode), resp.Generation, resp.LeaderID)
		}
		switch {
		case err != nil || resp == nil:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		case resp.ErrorCode == kerr.MemberIDRequired.Code:
			m.memberID, m.nextHeartbeatMs = resp.MemberID, w.now
		case resp.ErrorCode == kerr.UnknownMemberID.Code:
			c.classicReset("unknown member")
		case resp.ErrorCode != 0:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		default:
			c.syncGroup(coord, resp)
		}
	})
}

// syncGroup ends the member's part in a rebalance: the leader sends the
// assignment it computed, every member learns its own.
func (c *client) syncGroup(coord int32, join *kmsg.JoinGroupResponse) {
	w, m := c.w, c.member
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.Generation, req.MemberID = 3, m.group, join.Generation, m.memberID
	if join.LeaderID == m.memberID {
		req.GroupAssignment = rangeAssign(join.Members, c.meta.topics)
		m.assignedWith = c.subscription()
	}
	gen := join.Generation
	m.heartbeating = true
	c.call(coord, req, classicRPCTimeoutMs, func(body any, err error) {
		m.heartbeating = false
		resp, _ := body.(*kmsg.SyncGroupResponse)
		if resp != nil {
			w.tracef("%s: group %s: SyncGroup answered %s", c.name(), m.group, errorName(resp.ErrorCode))
		}
		switch {
		case err != nil || resp == nil:
			m.nextHeartbeatMs = w.now + 200
		case resp.ErrorCode == kerr.UnknownMemberID.Code:
			c.classicReset("unknown member")
		case resp.ErrorCode != 0:
			m.nextHeartbeatMs = w.now + 200
		default:
			var a kmsg.ConsumerMemberAssignment
			var next []tpKey
			if len(resp.MemberAssignment) > 0 && a.ReadFrom(resp.MemberAssignment) == nil {
				for _, t := range a.Topics {
					for _, p := range t.Partitions {
						next = append(next, tpKey{t.Topic, p})
					}
				}
			}
			slices.SortFunc(next, compareKeys)
			w.groupChecks.epoch(c, m.lastGeneration, gen)
			m.generation, m.lastGeneration, m.epoch = gen, gen, gen
			c.assign(next)
			w.groupChecks.owns(c, gen, m.assigned)
			m.nextHeartbeatMs = w.now + 1000
		}
	})
}

// rangeAssign is the leader's range assignment: each topic's partitions,
// in ranges, to the members subscribed to it, sorted by member id.
func rangeAssign(members []kmsg.JoinGroupResponseMember, topics map[string]topicMetadata) []kmsg.SyncGroupRequestGroupAssignment {
	subs := map[string][]string{}
	var names []string
	ids := make([]string, 0, len(members))
	for _, mem := range members {
		ids = append(ids, mem.MemberID)
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(mem.ProtocolMetadata) != nil {
			continue
		}
		for _, t := range meta.Topics {
			if _, ok := subs[t]; !ok {
				names = append(names, t)
			}
			subs[t] = append(subs[t], mem.MemberID)
		}
	}
	slices.Sort(ids)
	slices.Sort(names)
	owned := map[string]*kmsg.ConsumerMemberAssignment{}
	for _, id := range ids {
		owned[id] = &kmsg.ConsumerMemberAssignment{}
	}
	for _, t := range names {
		ms := subs[t]
		slices.Sort(ms)
		n := int32(len(topics[t].partitions))
		per, extra := n/int32(len(ms)), n%int32(len(ms))
		next := int32(0)
		for i, id := range ms {
			count := per
			if int32(i) < extra {
				count++
			}
			if count == 0 {
				continue
			}
			at := kmsg.ConsumerMemberAssignmentTopic{Topic: t}
			for p := next; p < next+count; p++ {
				at.Partitions = append(at.Partitions, p)
			}
			next += count
			owned[id].Topics = append(owned[id].Topics, at)
		}
	}
	var out []kmsg.SyncGroupRequestGroupAssignment
	for _, id := range ids {
		out = append(out, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: owned[id].AppendTo(nil)})
	}
	return out
}

func (c *client) classicHeartbeat() {
	w, m := c.w, c.member
	coord := c.coordinator()
	if coord < 0 {
		m.nextHeartbeatMs = w.now + 200
		return
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.Generation, req.MemberID = 3, m.group, m.generation, m.memberID
	m.heartbeating = true
	c.call(coord, req, w.timing.requestTimeoutMs, func(body any, err error) {
		m.heartbeating = false
		resp, _ := body.(*kmsg.HeartbeatResponse)
		m.nextHeartbeatMs = w.now + 1000
		switch {
		case err != nil || resp == nil:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		case resp.ErrorCode == 0:
		case resp.ErrorCode == kerr.RebalanceInProgress.Code:
			// Eager: give up every partition and join again.
			c.assign(nil)
			m.generation, m.nextHeartbeatMs = -1, w.now
		case resp.ErrorCode == kerr.UnknownMemberID.Code || resp.ErrorCode == kerr.IllegalGeneration.Code ||
			resp.ErrorCode == kerr.FencedInstanceID.Code:
			c.classicReset(kerr.ErrorForCode(resp.ErrorCode).Error())
		default:
			m.nextHeartbeatMs = w.now + 200
			c.refreshMetadata()
		}
	})
}

// classicMaxTopics bounds the topics a classic member subscribes to. The
// coordinator writes a classic group's members, with their subscriptions
// and assignments, as one record, which must fit in a segment of
// __consumer_offsets; the simulator's segments are 2 KiB
// (compactedSegmentBytes), and three members of about forty topics fill
// it: SyncGroup was refused (RECORD_LIST_TOO_LARGE, answered as
// UNKNOWN_SERVER_ERROR, as Kafka answers a group too large for its
// segment) every time, and the group never settled (seeds 6340038,
// 6340046 and 6340054 at 7 nodes and 10 minutes: L1). Production's
// segments (100 MiB) dwarf such a record; here a member subscribes to a
// list of topics, the first classicMaxTopics by name, as a consumer given
// a topic list does. Runs with fewer topics subscribe as before.
const classicMaxTopics = 20

// classicTopics are the topics a classic member subscribes to.
func (c *client) classicTopics() []string {
	names := c.sharedTopicNames()
	return names[:min(len(names), classicMaxTopics)]
}

// subscription is the topics the classic member subscribes to and their
// partition counts, as one string.
func (c *client) subscription() string {
	s := ""
	for _, name := range c.classicTopics() {
		s += fmt.Sprintf("%s:%d ", name, len(c.meta.topics[name].partitions))
	}
	return s
}

// classicReset starts the member over with a new member id.
func (c *client) classicReset(why string) {
	w, m := c.w, c.member
	w.tracef("%s: group %s: joins afresh (%s)", c.name(), m.group, why)
	c.assign(nil)
	m.memberID, m.generation, m.lastGeneration, m.epoch, m.nextHeartbeatMs = "", -1, 0, 0, w.now
}

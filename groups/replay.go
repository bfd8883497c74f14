package groups

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// Rebuilding the coordinator's state from its partition: each record is
// applied in offset order, the later record of a key replacing the earlier
// and a tombstone deleting it, so the state loaded equals the state that
// wrote the log (and that compaction keeps).

// replay applies one loaded record. Records it cannot read are skipped: a
// newer broker's records, or another coordinator's.
func (c *Coordinator) replay(r internaltopic.Record) {
	switch v := keyVersion(r.Key); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if k.ReadFrom(r.Key) != nil {
			return
		}
		c.replayOffset(k, r.Value)
	case keyGroupMetadata:
		var k kmsg.GroupMetadataKey
		if k.ReadFrom(r.Key) != nil {
			return
		}
		c.replayGroupMetadata(k.Group, r.Value)
	case keyConsumerGroupMetadata, keyConsumerGroupPartitionMetadata, keyConsumerGroupMemberMetadata,
		keyConsumerGroupTargetMetadata, keyConsumerGroupTargetMember, keyConsumerGroupCurrentMember:
		c.replayConsumerRecord(v, r)
	}
}

// loadedGroup returns the group id, made empty and classic if new.
func (c *Coordinator) loadedGroup(id string) *group {
	g := c.groups[id]
	if g == nil {
		g = newClassicGroup(id, internaltopic.Time{})
		c.groups[id] = g
	}
	return g
}

func (c *Coordinator) replayOffset(k kmsg.OffsetCommitKey, value []byte) {
	tp := topicPartition{topic: k.Topic, partition: k.Partition}
	if value == nil {
		if g := c.groups[k.Group]; g != nil {
			delete(g.offsets, tp)
			c.dropIfGone(g)
		}
		return
	}
	var v kmsg.OffsetCommitValue
	if v.ReadFrom(value) != nil {
		return
	}
	e := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitWallMs: v.CommitTimestamp, topicID: v.TopicID}
	if v.Version >= 3 {
		e.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		e.expireWallMs = v.ExpireTimestamp
	}
	c.loadedGroup(k.Group).offsets[tp] = e
}

func (c *Coordinator) replayGroupMetadata(id string, value []byte) {
	g := c.groups[id]
	if value == nil {
		if g != nil && g.kind == kindClassic {
			offsets := g.offsets
			*g = *newClassicGroup(id, internaltopic.Time{})
			g.offsets = offsets
			c.dropIfGone(g)
		}
		return
	}
	var v kmsg.GroupMetadataValue
	if v.ReadFrom(value) != nil {
		return
	}
	offsets := map[topicPartition]offsetEntry{}
	if g != nil {
		offsets = g.offsets
	}
	g = newClassicGroup(id, internaltopic.Time{WallMs: v.CurrentStateTimestamp})
	g.offsets = offsets
	c.groups[id] = g
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocolName = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	for _, vm := range v.Members {
		m := &member{id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			rebalanceTimeoutMs: vm.RebalanceTimeoutMillis, sessionTimeoutMs: vm.SessionTimeoutMillis,
			protocolType: v.ProtocolType, protocols: []protocol{{name: g.protocolName, metadata: vm.Subscription}},
			assignment: vm.Assignment, heartbeatDeadlineMs: noDeadline}
		if m.rebalanceTimeoutMs < 0 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		g.members = append(g.members, m)
		g.byID[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if len(g.members) > 0 {
		g.state = stateStable
		if _, ok := g.byID[g.leader]; !ok {
			g.leader = g.members[0].id
		}
		g.subscribedTopics = g.consumerSubscriptions()
	}
}

// dropIfGone forgets a loaded group left with nothing.
func (c *Coordinator) dropIfGone(g *group) {
	if g.kind == kindClassic && len(g.members) == 0 && len(g.offsets) == 0 && g.generation == 0 && g.protocolType == "" {
		delete(c.groups, g.id)
	}
}

// groupLoaded starts the timers of a group the load ended with.
func (c *Coordinator) groupLoaded(g *group, now internaltopic.Time) {
	if g.kind == kindConsumer {
		c.consumerGroupLoaded(g, now)
		return
	}
	for _, m := range g.members {
		c.scheduleHeartbeat(m, now)
	}
}

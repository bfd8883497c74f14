package groups

import (
	"github.com/twmb/franz-go/pkg/kbin"
)

// The records of consumer groups. Of Kafka's six record kinds for them,
// the coordinator writes the group metadata (key version 3: the group
// epoch), so a group's epoch never goes back across a failover; members and
// their assignments are not written, so after a load the members rejoin
// (their old member ids are unknown) and are assigned again. So the
// partitions' assignment epochs (KIP-1251), which Kafka keeps in a tagged
// field of the current-assignment record, need no record either: a member
// the coordinator does not know commits nothing (UNKNOWN_MEMBER_ID), and
// one that rejoined gets its partitions at a new epoch. kmsg has no
// types for these records: the two small schemas are written here with
// kbin, as Kafka lays them out (key: int16 version, string group; value:
// int16 version 0, int32 epoch, empty tagged fields).

// consumerGroupValueVersion is the ConsumerGroupMetadataValue version.
const consumerGroupValueVersion = 0

func consumerGroupKey(group string) []byte {
	dst := kbin.AppendInt16(nil, keyConsumerGroupMetadata)
	return kbin.AppendString(dst, group)
}

// consumerGroupRecord is a consumer group's epoch.
func consumerGroupRecord(group string, epoch int32) Record {
	v := kbin.AppendInt16(nil, consumerGroupValueVersion)
	v = kbin.AppendInt32(v, epoch)
	v = kbin.AppendUvarint(v, 0) // no tagged fields
	return Record{Key: consumerGroupKey(group), Value: v}
}

// consumerGroupTombstone deletes a consumer group's metadata.
func consumerGroupTombstone(group string) Record { return Record{Key: consumerGroupKey(group)} }

// consumerGroupTombstones are the records that delete g's consumer group
// state.
func (c *Coordinator) consumerGroupTombstones(g *group) []Record {
	return []Record{consumerGroupTombstone(g.id)}
}

// appendGroupEpoch makes the group's epoch durable and calls done after.
func (c *Coordinator) appendGroupEpoch(g *group, done func(code int16, now Time)) {
	c.append([]Record{consumerGroupRecord(g.id, g.consumer.epoch)}, done)
}

// replayConsumerRecord applies a loaded consumer group record: the group
// metadata; the member and assignment records Kafka also writes are
// skipped (members rejoin after a load).
func (c *Coordinator) replayConsumerRecord(version int16, r Record) {
	if version != keyConsumerGroupMetadata {
		return
	}
	kr := kbin.Reader{Src: r.Key}
	kr.Int16()
	id := kr.String()
	if kr.Complete() != nil {
		return
	}
	g := c.groups[id]
	if r.Value == nil {
		if g != nil && g.kind == kindConsumer {
			offsets := g.offsets
			*g = *newClassicGroup(id, Time{})
			g.offsets = offsets
			c.dropIfGone(g)
		}
		return
	}
	vr := kbin.Reader{Src: r.Value}
	vr.Int16()
	epoch := vr.Int32()
	if !vr.Ok() {
		return
	}
	if g == nil {
		g = newClassicGroup(id, Time{})
		c.groups[id] = g
	}
	if g.kind != kindConsumer {
		offsets := g.offsets
		*g = *newClassicGroup(id, Time{})
		g.offsets = offsets
		g.kind, g.consumer = kindConsumer, newConsumerGroup()
	}
	g.consumer.epoch = epoch
}

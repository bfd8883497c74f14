package groups

import (
	"bytes"
	"regexp"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"

	"gregor/logstore/internaltopic"
)

// The records of consumer groups, as Kafka writes them to
// __consumer_offsets (group-coordinator's ConsumerGroup*Key/Value schemas):
//
//	3 ConsumerGroupMetadata (group): the group epoch
//	4 ConsumerGroupPartitionMetadata (group): the subscribed topics' partition counts
//	5 ConsumerGroupMemberMetadata (group, member): the member's subscription
//	6 ConsumerGroupTargetAssignmentMetadata (group): the assignment epoch
//	7 ConsumerGroupTargetAssignmentMember (group, member): its target
//	8 ConsumerGroupCurrentMemberAssignment (group, member): its epochs,
//	  state, partitions owned and pending revocation, and (tag 0 of each
//	  topic, KIP-1251) the epoch each owned partition was assigned at.
//
// Keys are an int16 version and strings (not flexible); values an int16
// version 0 and a flexible body. kmsg has no types for them: they are
// written here with kbin. The coordinator keeps the value it last wrote
// under each key (consumerGroup.written) and, after each change, writes the
// keys whose value changed and tombstones the keys that are gone, so the
// log, and what compaction keeps of it, always holds the group's whole
// state under one key per fact. Replay keeps the latest value of each key
// and the load rebuilds the members from them (consumerGroupLoaded): after
// a coordinator move a member heartbeats with its id and epoch and keeps its
// partitions.

// consumerValueVersion is the version of every consumer group value.
const consumerValueVersion = 0

// kindOrder is the order in which records of each key version are written
// (as Kafka does: the member, the group epoch, the targets, the current
// assignments); tombstoneOrder that of tombstones, which go first (as
// Kafka deletes a group: the group epoch last).
var (
	kindOrder = map[int16]int{keyConsumerGroupMemberMetadata: 0, keyConsumerGroupPartitionMetadata: 1, keyConsumerGroupMetadata: 2,
		keyConsumerGroupTargetMember: 3, keyConsumerGroupTargetMetadata: 4, keyConsumerGroupCurrentMember: 5}
	tombstoneOrder = map[int16]int{keyConsumerGroupCurrentMember: 0, keyConsumerGroupTargetMember: 1, keyConsumerGroupTargetMetadata: 2,
		keyConsumerGroupMemberMetadata: 3, keyConsumerGroupPartitionMetadata: 4, keyConsumerGroupMetadata: 5}
)

func consumerKey(version int16, group string, member *string) []byte {
	dst := kbin.AppendInt16(nil, version)
	dst = kbin.AppendString(dst, group)
	if member != nil {
		dst = kbin.AppendString(dst, *member)
	}
	return dst
}

func consumerGroupKey(group string) []byte { return consumerKey(keyConsumerGroupMetadata, group, nil) }

// consumerValue starts a value: its version.
func consumerValue() []byte { return kbin.AppendInt16(nil, consumerValueVersion) }

// consumerGroupTombstone deletes a consumer group's metadata.
func consumerGroupTombstone(group string) internaltopic.Record {
	return internaltopic.Record{Key: consumerGroupKey(group)}
}

// consumerGroupTombstones are the records that delete g's consumer group
// state: every key it wrote.
func (c *Coordinator) consumerGroupTombstones(g *group) []internaltopic.Record {
	out := c.diffConsumerRecords(g, map[string][]byte{})
	if len(out) == 0 {
		out = []internaltopic.Record{consumerGroupTombstone(g.id)}
	}
	return out
}

// appendGroupEpoch makes the group's state durable (the records that
// changed since it was last written) and calls done after; with nothing
// changed nothing is appended and done is not called.
func (c *Coordinator) appendGroupEpoch(g *group, done func(code int16, now internaltopic.Time)) {
	c.appendConsumerRecords(c.diffConsumerRecords(g, c.consumerRecordsOf(g)), done)
}

// appendMemberRecords is appendGroupEpoch when only member m (and the
// group's own records) may have changed: a heartbeat that moved no epoch,
// whose member's records were written before. It encodes that member
// alone, so a heartbeat costs the same in a group of many members.
func (c *Coordinator) appendMemberRecords(g *group, m *consumerMember, done func(code int16, now internaltopic.Time)) {
	id := m.id
	if _, ok := g.consumer.written[string(consumerKey(keyConsumerGroupMemberMetadata, g.id, &id))]; !ok {
		c.appendGroupEpoch(g, done)
		return
	}
	want := c.consumerGroupRecordsOf(g)
	c.memberRecordsOf(g, m, want)
	records := c.diffRecords(g, want)
	for k, v := range want {
		g.consumer.written[k] = v
	}
	c.appendConsumerRecords(records, done)
}

// appendConsumerRecords appends records in appends of at most
// consumerAppendBytes, done called after the last.
func (c *Coordinator) appendConsumerRecords(records []internaltopic.Record, done func(code int16, now internaltopic.Time)) {
	for len(records) > 0 {
		n, size := 0, 0
		for n < len(records) && (n == 0 || size+len(records[n].Key)+len(records[n].Value) <= consumerAppendBytes) {
			size += len(records[n].Key) + len(records[n].Value)
			n++
		}
		if n == len(records) {
			c.append(records, done)
			return
		}
		c.append(records[:n], func(int16, internaltopic.Time) {})
		records = records[n:]
	}
}

// consumerAppendBytes bounds the keys and values of one append of a
// consumer group's records: a group of many members or partitions writes
// its records in several appends, each a batch the partition can take (a
// segment of __consumer_offsets bounds a batch); the shell merges appends
// that fit together. A failure of any of them reverts the coordinator, and
// the records written before it load as a state the group recovers from: a
// member without its assignment record is at epoch 0 and rejoins, a target
// older than the group epoch is computed again (consumerGroupLoaded).
const consumerAppendBytes = 1024

// diffConsumerRecords returns the records that take the group's written
// state to want, and remembers want as written.
func (c *Coordinator) diffConsumerRecords(g *group, want map[string][]byte) []internaltopic.Record {
	cg := g.consumer
	out := c.diffRecords(g, want)
	for k := range cg.written {
		if _, ok := want[k]; !ok {
			out = append(out, internaltopic.Record{Key: []byte(k)})
		}
	}
	sortConsumerRecords(out)
	cg.written = want
	return out
}

// diffRecords are the records of want whose value is not the one written,
// in the order they are written.
func (c *Coordinator) diffRecords(g *group, want map[string][]byte) []internaltopic.Record {
	var out []internaltopic.Record
	for k, v := range want {
		if old, ok := g.consumer.written[k]; !ok || !bytes.Equal(old, v) {
			out = append(out, internaltopic.Record{Key: []byte(k), Value: v})
		}
	}
	sortConsumerRecords(out)
	return out
}

func sortConsumerRecords(out []internaltopic.Record) {
	rank := func(r internaltopic.Record) int {
		if r.Value == nil {
			return tombstoneOrder[keyVersion(r.Key)] - 10 // tombstones first
		}
		return kindOrder[keyVersion(r.Key)]
	}
	slices.SortFunc(out, func(a, b internaltopic.Record) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return bytes.Compare(a.Key, b.Key)
	})
}

// consumerRecordsOf is the whole state of a consumer group as records: key
// → value.
func (c *Coordinator) consumerRecordsOf(g *group) map[string][]byte {
	out := c.consumerGroupRecordsOf(g)
	for _, m := range g.consumer.sortedMembers() {
		c.memberRecordsOf(g, m, out)
	}
	return out
}

// consumerGroupRecordsOf are the group's own records: its epoch, its
// subscribed topics, its assignment epoch.
func (c *Coordinator) consumerGroupRecordsOf(g *group) map[string][]byte {
	cg := g.consumer
	out := map[string][]byte{}
	v := kbin.AppendInt32(consumerValue(), cg.epoch)
	out[string(consumerGroupKey(g.id))] = kbin.AppendUvarint(v, 0)
	out[string(consumerKey(keyConsumerGroupPartitionMetadata, g.id, nil))] = c.partitionMetadataValue(cg)
	v = kbin.AppendInt32(consumerValue(), cg.assignmentEpoch)
	out[string(consumerKey(keyConsumerGroupTargetMetadata, g.id, nil))] = kbin.AppendUvarint(v, 0)
	return out
}

// memberRecordsOf adds member m's records to out.
func (c *Coordinator) memberRecordsOf(g *group, m *consumerMember, out map[string][]byte) {
	id := m.id
	out[string(consumerKey(keyConsumerGroupMemberMetadata, g.id, &id))] = memberMetadataValue(m)
	v := c.appendTopicPartitions(consumerValue(), g.consumer.target[m.id], nil)
	out[string(consumerKey(keyConsumerGroupTargetMember, g.id, &id))] = kbin.AppendUvarint(v, 0)
	out[string(consumerKey(keyConsumerGroupCurrentMember, g.id, &id))] = c.currentAssignmentValue(m)
}

func (c *Coordinator) partitionMetadataValue(cg *consumerGroup) []byte {
	names := make([]string, 0, len(cg.subscribed))
	for t := range cg.subscribed {
		names = append(names, t)
	}
	slices.Sort(names)
	v := kbin.AppendCompactArrayLen(consumerValue(), len(names))
	for _, t := range names {
		v = kbin.AppendUuid(v, cg.subscribed[t].id)
		v = kbin.AppendCompactString(v, t)
		v = kbin.AppendInt32(v, cg.subscribed[t].partitions)
		v = kbin.AppendCompactArrayLen(v, 0) // PartitionMetadata (racks): unused
		v = kbin.AppendUvarint(v, 0)
	}
	return kbin.AppendUvarint(v, 0)
}

func memberMetadataValue(m *consumerMember) []byte {
	v := kbin.AppendCompactNullableString(consumerValue(), m.instanceID)
	v = kbin.AppendCompactNullableString(v, m.rackID)
	v = kbin.AppendCompactString(v, m.clientID)
	v = kbin.AppendCompactString(v, m.clientHost)
	v = kbin.AppendCompactArrayLen(v, len(m.subscribedNames))
	for _, n := range m.subscribedNames {
		v = kbin.AppendCompactString(v, n)
	}
	v = kbin.AppendCompactNullableString(v, nonEmpty(m.regex))
	v = kbin.AppendInt32(v, m.rebalanceTimeoutMs)
	v = kbin.AppendCompactNullableString(v, nonEmpty(m.serverAssignor))
	return kbin.AppendUvarint(v, 0)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// currentAssignmentValue is a member's epochs and partitions. A static
// member that left for now is at epoch -2, as Kafka writes it; its epoch is
// kept as the previous epoch.
func (c *Coordinator) currentAssignmentValue(m *consumerMember) []byte {
	epoch, previous := m.epoch, m.previousEpoch
	if m.leftStatic {
		epoch, previous = -2, m.epoch
	}
	v := kbin.AppendInt32(consumerValue(), epoch)
	v = kbin.AppendInt32(v, previous)
	v = kbin.AppendInt8(v, int8(m.state))
	v = c.appendTopicPartitions(v, m.assigned, m.assignedAt)
	v = c.appendTopicPartitions(v, m.revoking, m.assignedAt)
	return kbin.AppendUvarint(v, 0)
}

// appendTopicPartitions writes set as [{TopicId, [Partition]}], by topic
// id; with epochs, each topic carries tag 0: the assignment epoch of each
// partition (KIP-1251), in the partitions' order.
func (c *Coordinator) appendTopicPartitions(v []byte, set tpSet, epochs map[topicPartition]int32) []byte {
	type topic struct {
		id    [16]byte
		parts []topicPartition
	}
	var topics []topic
	for _, tp := range set.sorted() {
		if n := len(topics); n == 0 || topics[n-1].parts[0].topic != tp.topic {
			topics = append(topics, topic{id: c.topics.byName[tp.topic].ID})
		}
		topics[len(topics)-1].parts = append(topics[len(topics)-1].parts, tp)
	}
	v = kbin.AppendCompactArrayLen(v, len(topics))
	for _, t := range topics {
		v = kbin.AppendUuid(v, t.id)
		v = kbin.AppendCompactArrayLen(v, len(t.parts))
		for _, tp := range t.parts {
			v = kbin.AppendInt32(v, tp.partition)
		}
		if epochs == nil {
			v = kbin.AppendUvarint(v, 0)
			continue
		}
		var tag []byte
		tag = kbin.AppendCompactArrayLen(tag, len(t.parts))
		for _, tp := range t.parts {
			tag = kbin.AppendInt32(tag, epochs[tp])
		}
		v = kbin.AppendUvarint(v, 1)                // one tagged field
		v = kbin.AppendUvarint(v, 0)                // tag 0
		v = kbin.AppendUvarint(v, uint32(len(tag))) // its size
		v = append(v, tag...)
	}
	return v
}

// replayConsumerRecord applies a loaded consumer group record: the group
// epoch is taken at once; every record's latest value is kept by key
// (a tombstone drops it) and the members are rebuilt from them when the
// load ends (consumerGroupLoaded).
func (c *Coordinator) replayConsumerRecord(version int16, r internaltopic.Record) {
	kr := kbin.Reader{Src: r.Key}
	kr.Int16()
	id := kr.String()
	if version >= keyConsumerGroupMemberMetadata && version != keyConsumerGroupTargetMetadata {
		_ = kr.String()
	}
	if kr.Complete() != nil {
		return
	}
	g := c.groups[id]
	if version == keyConsumerGroupMetadata && r.Value == nil {
		if g != nil && g.kind == kindConsumer {
			offsets := g.offsets
			*g = *newClassicGroup(id, internaltopic.Time{})
			g.offsets = offsets
			c.dropIfGone(g)
		}
		return
	}
	if r.Value == nil {
		if g != nil && g.kind == kindConsumer {
			delete(g.consumer.written, string(r.Key))
		}
		return
	}
	if g == nil {
		g = newClassicGroup(id, internaltopic.Time{})
		c.groups[id] = g
	}
	if g.kind != kindConsumer {
		offsets := g.offsets
		*g = *newClassicGroup(id, internaltopic.Time{})
		g.offsets = offsets
		g.kind, g.consumer = kindConsumer, newConsumerGroup()
	}
	g.consumer.written[string(r.Key)] = r.Value
	if version == keyConsumerGroupMetadata {
		vr := kbin.Reader{Src: r.Value}
		vr.Int16()
		if epoch := vr.Int32(); vr.Ok() {
			g.consumer.epoch = epoch
		}
	}
}

// consumerGroupLoaded rebuilds a loaded group's members, targets and
// assignments from the records kept by replay, and starts their timers as
// Kafka does on load: every member's session, and the revocation of those
// that must give partitions up. Partitions of topics that are gone are
// dropped; if the subscribed topics changed while no coordinator ran, the
// group epoch moves on.
func (c *Coordinator) consumerGroupLoaded(g *group, now internaltopic.Time) {
	cg := g.consumer
	cg.assignmentEpoch = cg.epoch
	members := map[string]*consumerMember{}
	get := func(id string) *consumerMember {
		m := members[id]
		if m == nil {
			m = &consumerMember{id: id, assigned: tpSet{}, revoking: tpSet{}, assignedAt: map[topicPartition]int32{},
				revocationDeadlineMs: noDeadline, rebalanceTimeoutMs: -1}
			members[id] = m
		}
		return m
	}
	hasMetadata := map[string]bool{}
	targets := map[string]tpSet{}
	for k, value := range cg.written {
		kr := kbin.Reader{Src: []byte(k)}
		version := kr.Int16()
		_ = kr.String()
		vr := &kbin.Reader{Src: value}
		vr.Int16()
		switch version {
		case keyConsumerGroupPartitionMetadata:
			c.readPartitionMetadata(cg, vr)
		case keyConsumerGroupTargetMetadata:
			if e := vr.Int32(); vr.Ok() {
				cg.assignmentEpoch = e
			}
		case keyConsumerGroupMemberMetadata:
			id := kr.String()
			readMemberMetadata(get(id), vr)
			hasMetadata[id] = true
		case keyConsumerGroupTargetMember:
			targets[kr.String()] = c.readTopicPartitions(vr, nil)
		case keyConsumerGroupCurrentMember:
			c.readCurrentAssignment(get(kr.String()), vr)
		}
	}
	for id, m := range members {
		if !hasMetadata[id] {
			continue // an incomplete member (a newer log's): it rejoins
		}
		cg.members[id] = m
		cg.target[id] = targets[id]
		if cg.target[id] == nil {
			cg.target[id] = tpSet{}
		}
		if m.instanceID != nil {
			cg.static[*m.instanceID] = id
		}
		m.sessionDeadlineMs = now.MonoMs + int64(c.cfg.Consumer.SessionTimeoutMs)
		if m.state == memberUnrevoked {
			m.revocationDeadlineMs = now.MonoMs + int64(m.rebalanceTimeoutMs)
		}
	}
	// The records loaded are what written holds: nothing is written
	// unless the subscribed topics changed while no coordinator ran, or
	// the target's records did not all reach the log.
	if changed := c.subscriptionChanged(g); len(cg.members) > 0 && (changed || cg.assignmentEpoch != cg.epoch) {
		c.bumpGroupEpoch(g, now)
		c.appendGroupEpoch(g, func(int16, internaltopic.Time) {})
	}
}

func (c *Coordinator) readPartitionMetadata(cg *consumerGroup, vr *kbin.Reader) {
	n := vr.CompactArrayLen()
	for i := int32(0); i < n && vr.Ok(); i++ {
		id := vr.Uuid()
		name := vr.CompactString()
		parts := vr.Int32()
		for j, racks := int32(0), vr.CompactArrayLen(); j < racks && vr.Ok(); j++ {
			vr.Int32()
			for k, rs := int32(0), vr.CompactArrayLen(); k < rs && vr.Ok(); k++ {
				vr.CompactString()
			}
			skipTags(vr)
		}
		skipTags(vr)
		if vr.Ok() {
			cg.subscribed[name] = subscribedTopic{id: id, partitions: parts}
		}
	}
}

func readMemberMetadata(m *consumerMember, vr *kbin.Reader) {
	m.instanceID = vr.CompactNullableString()
	m.rackID = vr.CompactNullableString()
	m.clientID = vr.CompactString()
	m.clientHost = vr.CompactString()
	n := vr.CompactArrayLen()
	m.subscribedNames = nil
	for i := int32(0); i < n && vr.Ok(); i++ {
		m.subscribedNames = append(m.subscribedNames, vr.CompactString())
	}
	if re := vr.CompactNullableString(); re != nil {
		m.regex = *re
		m.pattern, _ = regexp.Compile("^(?:" + *re + ")$")
	}
	m.rebalanceTimeoutMs = vr.Int32()
	if a := vr.CompactNullableString(); a != nil {
		m.serverAssignor = *a
	}
}

func (c *Coordinator) readCurrentAssignment(m *consumerMember, vr *kbin.Reader) {
	m.epoch, m.previousEpoch = vr.Int32(), vr.Int32()
	m.state = memberState(vr.Int8())
	if m.epoch == -2 {
		m.leftStatic, m.epoch = true, m.previousEpoch
	}
	m.assigned = c.readTopicPartitions(vr, m.assignedAt)
	m.revoking = c.readTopicPartitions(vr, m.assignedAt)
}

// readTopicPartitions reads what appendTopicPartitions wrote, dropping the
// partitions of topics the coordinator does not know; with epochs, the
// assignment epochs of tag 0 go into it.
func (c *Coordinator) readTopicPartitions(vr *kbin.Reader, epochs map[topicPartition]int32) tpSet {
	out := tpSet{}
	n := vr.CompactArrayLen()
	for i := int32(0); i < n && vr.Ok(); i++ {
		name, known := c.topics.nameOf(vr.Uuid())
		var parts []topicPartition
		for j, np := int32(0), vr.CompactArrayLen(); j < np && vr.Ok(); j++ {
			tp := topicPartition{topic: name, partition: vr.Int32()}
			parts = append(parts, tp)
			if known {
				out[tp] = struct{}{}
			}
		}
		for t, nt := uint32(0), vr.Uvarint(); t < nt && vr.Ok(); t++ {
			tag, size := vr.Uvarint(), vr.Uvarint()
			body := kbin.Reader{Src: vr.Span(int(size))}
			if tag != 0 || !known || epochs == nil {
				continue
			}
			for j, ne := int32(0), body.CompactArrayLen(); j < ne && int(j) < len(parts) && body.Ok(); j++ {
				if e := body.Int32(); body.Ok() {
					epochs[parts[j]] = e
				}
			}
		}
	}
	return out
}

// skipTags reads past a tagged-field section.
func skipTags(vr *kbin.Reader) {
	for t, nt := uint32(0), vr.Uvarint(); t < nt && vr.Ok(); t++ {
		vr.Uvarint()
		vr.Span(int(vr.Uvarint()))
	}
}

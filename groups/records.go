package groups

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/logstore/internaltopic"
)

// The key versions of __consumer_offsets records, as Kafka writes them: the
// first int16 of a key says what it is.
const (
	keyOffsetCommit  int16 = 1 // OffsetCommitKey (0 is the same layout)
	keyGroupMetadata int16 = 2 // GroupMetadataKey
	// KIP-848 consumer groups (see consumer_records.go).
	keyConsumerGroupMetadata          int16 = 3
	keyConsumerGroupPartitionMetadata int16 = 4
	keyConsumerGroupMemberMetadata    int16 = 5
	keyConsumerGroupTargetMetadata    int16 = 6
	keyConsumerGroupTargetMember      int16 = 7
	keyConsumerGroupCurrentMember     int16 = 8
)

// offsetCommitValueVersion is the OffsetCommitValue version written: 3
// carries the leader epoch and no expire timestamp (KIP-211, KIP-320); 4,
// written when the topic's id is known, its id too (a tagged field, as
// Kafka 4.1 writes it: KAFKA-19141).
const offsetCommitValueVersion = 3

// offsetCommitValueVersionWithID is the version that carries the id.
const offsetCommitValueVersionWithID = 4

// groupMetadataValueVersion is the GroupMetadataValue version written: 3
// carries static members' instance ids (KIP-345).
const groupMetadataValueVersion = 3

func offsetKey(group, topic string, partition int32) []byte {
	return appendOffsetKey(make([]byte, 0, offsetKeyBytes(group, topic)), group, topic, partition)
}

// offsetKeyBytes is the size of an OffsetCommitKey: its version, the group
// and topic (each after an int16 length) and the partition.
func offsetKeyBytes(group, topic string) int { return 2 + 2 + len(group) + 2 + len(topic) + 4 }

func appendOffsetKey(dst []byte, group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: keyOffsetCommit, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(dst)
}

// offsetValueBytes is the size of an OffsetCommitValue v3: its version, the
// offset, leader epoch, metadata (after an int16 length) and commit time;
// v4 (with a topic id) at most 24 bytes more: the metadata's length as a
// uvarint, and the tagged field of the id (count, tag, size, 16 bytes).
func offsetValueBytes(metadata string, withID bool) int {
	n := 2 + 8 + 4 + 2 + len(metadata) + 8
	if withID {
		n += 24
	}
	return n
}

// offsetCommitRecords are the records of group's planned commits, their
// keys and values in one allocation (a commit of many partitions made
// several per partition, each growing its slice).
func offsetCommitRecords(group string, commits []plannedCommit) []internaltopic.Record {
	size := 0
	for _, cm := range commits {
		size += offsetKeyBytes(group, cm.tp.topic) + offsetValueBytes(cm.entry.metadata, cm.entry.topicID != [16]byte{})
	}
	buf := make([]byte, 0, size)
	records := make([]internaltopic.Record, len(commits))
	for i, cm := range commits {
		start := len(buf)
		buf = appendOffsetKey(buf, group, cm.tp.topic, cm.tp.partition)
		key := buf[start:len(buf):len(buf)]
		start = len(buf)
		v := offsetCommitValue(cm.entry)
		buf = v.AppendTo(buf)
		records[i] = internaltopic.Record{Key: key, Value: buf[start:len(buf):len(buf)]}
	}
	return records
}

// offsetCommitRecord is the record of a committed offset.
func offsetCommitRecord(group string, tp topicPartition, o offsetEntry) internaltopic.Record {
	v := offsetCommitValue(o)
	return internaltopic.Record{Key: offsetKey(group, tp.topic, tp.partition), Value: v.AppendTo(nil)}
}

// offsetCommitValue is the value of a committed offset: v4 with its topic's
// id when known, else v3.
func offsetCommitValue(o offsetEntry) kmsg.OffsetCommitValue {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetCommitValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.offset, o.leaderEpoch, o.metadata, o.commitWallMs
	if o.topicID != ([16]byte{}) {
		v.Version, v.TopicID = offsetCommitValueVersionWithID, o.topicID
	}
	return v
}

// offsetTombstone deletes a committed offset.
func offsetTombstone(group string, tp topicPartition) internaltopic.Record {
	return internaltopic.Record{Key: offsetKey(group, tp.topic, tp.partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: keyGroupMetadata, Group: group}
	return k.AppendTo(nil)
}

// groupTombstone deletes a group's metadata.
func groupTombstone(group string) internaltopic.Record {
	return internaltopic.Record{Key: groupKey(group)}
}

// groupMetadataRecord is a classic group's metadata with each member's
// subscription (its metadata for the chosen protocol) and the assignment
// given (members absent from assignment keep theirs).
func groupMetadataRecord(g *group, assignment map[string][]byte) internaltopic.Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupMetadataValueVersion
	v.ProtocolType, v.Generation = g.protocolType, g.generation
	if g.protocolName != "" {
		v.Protocol = kmsg.StringPtr(g.protocolName)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	v.CurrentStateTimestamp = g.stateSinceWallMs
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID, vm.ClientID, vm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis, vm.SessionTimeoutMillis = m.rebalanceTimeoutMs, m.sessionTimeoutMs
		vm.Subscription = m.metadataFor(g.protocolName)
		vm.Assignment = m.assignment
		if a, ok := assignment[m.id]; ok {
			vm.Assignment = a
		}
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return internaltopic.Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// EncodeBatch encodes records as one uncompressed RecordBatch v2 stamped
// with wall time nowMs (the partition assigns its offsets and epoch).
func EncodeBatch(records []internaltopic.Record, nowMs int64) []byte {
	return encodeBatch(records, nowMs, nil)
}

// EncodeTxnBatch is EncodeBatch for a transactional batch of producer
// (TxnOffsetCommit): it carries the producer id and epoch and no sequence,
// as Kafka's coordinators write them.
func EncodeTxnBatch(records []internaltopic.Record, nowMs int64, producer Producer) []byte {
	return encodeBatch(records, nowMs, &producer)
}

func encodeBatch(records []internaltopic.Record, nowMs int64, producer *Producer) []byte {
	if len(records) == 0 {
		panic("groups: an empty batch")
	}
	// One allocation: the header's room, then the records
	// (recordOverheadBytes, tombstones.go).
	size := logstore.BatchHeaderBytes
	for _, r := range records {
		size += len(r.Key) + len(r.Value) + recordOverheadBytes
	}
	p := make([]byte, logstore.BatchHeaderBytes, size)
	for i, r := range records {
		// kmsg writes a zero length as one byte before the record's
		// fields; that byte becomes the length, the fields moved up
		// when the length takes more.
		at := len(p)
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		p = rec.AppendTo(p)
		bodyLen := len(p) - at - 1
		var length [binary.MaxVarintLen64]byte
		n := binary.PutVarint(length[:], int64(bodyLen))
		if n > 1 {
			p = append(p, length[:n-1]...)
			copy(p[at+n:], p[at+1:at+1+bodyLen])
		}
		copy(p[at:], length[:n])
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(records) - 1),
		FirstTimestamp: nowMs, MaxTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(records)),
	}
	if producer != nil {
		rb.Attributes |= batchAttrTransactional
		rb.ProducerID, rb.ProducerEpoch = producer.ID, producer.Epoch
	}
	rb.Length = int32(len(p) - 12)
	if h := rb.AppendTo(p[:0]); len(h) != logstore.BatchHeaderBytes {
		panic(fmt.Sprintf("groups: a batch header of %d bytes, want %d", len(h), logstore.BatchHeaderBytes))
	}
	logstore.ChecksumBatch(p)
	return p
}

// batchAttrControl marks a control batch (transaction markers), which holds
// no group records.
const (
	batchAttrTransactional = 0x10
	batchAttrControl       = 0x20
)

// batchInfo is what a record's batch says about it: transactional records
// belong to producerID's transaction; a control batch is that
// transaction's marker (commit or abort), holding no group records.
type batchInfo struct {
	transactional, control bool
	producerID             int64
	commit                 bool
}

// batchDecoder reads the records of __consumer_offsets batches.
type batchDecoder struct {
	codecs *logstore.Codecs
}

// decode calls fn for every record of the batches filling p, in offset
// order, and returns the offset after the last batch (from when p is empty).
// A batch that fails its checks is corruption: the partition's log promised
// valid batches.
func (d *batchDecoder) decode(p []byte, from int64, fn func(offset int64, r internaltopic.Record, b batchInfo)) (int64, error) {
	next := from
	err := logstore.EachBatch(p, func(b *logstore.Batch) error {
		next = b.NextOffset()
		info := batchInfo{transactional: b.Attributes&batchAttrTransactional != 0, producerID: b.ProducerID}
		if b.Attributes&batchAttrControl != 0 {
			// A marker: its one record's key is a version and a type
			// (0 abort, 1 commit).
			err := d.decodeRecords(b, func(_ int64, r internaltopic.Record) {
				if len(r.Key) >= 4 && info.transactional {
					info.control, info.commit = true, binary.BigEndian.Uint16(r.Key[2:4]) == 1
					fn(b.FirstOffset, r, info)
				}
			})
			if err != nil {
				return fmt.Errorf("control batch at offset %d: %w", b.FirstOffset, err)
			}
			return nil
		}
		if err := d.decodeRecords(b, func(offset int64, r internaltopic.Record) { fn(offset, r, info) }); err != nil {
			return fmt.Errorf("batch at offset %d: %w", b.FirstOffset, err)
		}
		return nil
	})
	return next, err
}

func (d *batchDecoder) decodeRecords(b *logstore.Batch, fn func(offset int64, r internaltopic.Record)) error {
	if d.codecs == nil {
		d.codecs = logstore.NewCodecs()
	}
	return d.codecs.EachRecord(b, func(offset int64, r *kmsg.Record) { fn(offset, internaltopic.Record{Key: r.Key, Value: r.Value}) })
}

// keyVersion is the first int16 of a record key, or -1 for a key too short.
func keyVersion(key []byte) int16 {
	if len(key) < 2 {
		return -1
	}
	return int16(binary.BigEndian.Uint16(key))
}

package txn

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/logstore/internaltopic"
)

// keyVersion is the TxnMetadataKey version Kafka writes (and the only one).
const keyVersion int16 = 0

// TxnMetadataValue versions: 1 is flexible and carries KIP-890's fields;
// it is written once a transactional id's client uses KIP-890 part 2.
const (
	valueVersionClassic int16 = 0
	valueVersionTV2     int16 = 1
)

func metadataKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(make([]byte, 0, 4+len(id)))
}

// recordKey is t's record key; records share it (an append copies it into
// its batch).
func (t *txnMeta) recordKey() []byte {
	if t.key == nil {
		t.key = metadataKey(t.id)
	}
	return t.key
}

// metadataRecord is the record of t's state (a tombstone when Dead).
func metadataRecord(t *txnMeta) internaltopic.Record {
	if t.state == Dead {
		return internaltopic.Record{Key: t.recordKey()}
	}
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersionClassic
	if t.tv2 {
		v.Version = valueVersionTV2
		v.ClientTransactionVersion = 2
		v.PreviousProducerID, v.NextProducerID = t.prevProducerID, t.nextProducerID
	}
	v.ProducerID, v.ProducerEpoch, v.TimeoutMillis = t.producerID, t.epoch, t.timeoutMs
	v.State = kmsg.TransactionState(t.state)
	v.LastUpdateTimestamp, v.StartTimestamp = t.lastUpdateWallMs, t.startWallMs
	// Room for the fixed fields, each topic's name and count, and each
	// partition: the value is encoded without growing.
	size := 64
	for _, tp := range t.partitions {
		size += len(tp.Topic) + 10
	}
	for _, tp := range t.partitions {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
		}
		last := &v.Topics[len(v.Topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	}
	return internaltopic.Record{Key: t.recordKey(), Value: v.AppendTo(make([]byte, 0, size))}
}

// replay applies one loaded record; records it cannot read are skipped.
func (c *Coordinator) replay(r internaltopic.Record) {
	var k kmsg.TxnMetadataKey
	if len(r.Key) < 2 || int16(binary.BigEndian.Uint16(r.Key)) != keyVersion || k.ReadFrom(r.Key) != nil {
		return
	}
	if r.Value == nil {
		delete(c.txns, k.TransactionalID)
		return
	}
	var v kmsg.TxnMetadataValue
	if v.ReadFrom(r.Value) != nil {
		return
	}
	t := &txnMeta{id: k.TransactionalID, producerID: v.ProducerID, prevProducerID: -1, nextProducerID: -1,
		epoch: v.ProducerEpoch, timeoutMs: v.TimeoutMillis, state: State(v.State),
		lastUpdateWallMs: v.LastUpdateTimestamp, startWallMs: v.StartTimestamp, lastEpoch: noProducerEpoch}
	if v.Version >= valueVersionTV2 {
		t.prevProducerID, t.nextProducerID = v.PreviousProducerID, v.NextProducerID
		t.tv2 = v.ClientTransactionVersion >= 2
	}
	// A KIP-890 part 2 commit bumped the epoch when it was prepared: the
	// client that asked for it may retry its EndTxn at the epoch before,
	// here on a new coordinator. A commit is never a fence (a fence
	// aborts), so the epoch before is the committing producer's own.
	if t.tv2 && (t.state == PrepareCommit || t.state == CompleteCommit) && t.epoch > 0 {
		t.lastEpoch = t.epoch - 1
	}
	for _, tp := range v.Topics {
		for _, p := range tp.Partitions {
			t.addPartitions([]TopicPartition{{tp.Topic, p}})
		}
	}
	c.txns[t.id] = t
}

// EncodeBatch encodes records as one uncompressed RecordBatch v2 stamped
// with wall time nowMs (the partition assigns its offsets and epoch).
func EncodeBatch(records []internaltopic.Record, nowMs int64) []byte {
	if len(records) == 0 {
		panic("txn: an empty batch")
	}
	size := 0
	for _, r := range records {
		size += len(r.Key) + len(r.Value) + 24 // a record's varints and attributes
	}
	section, scratch := make([]byte, 0, size), make([]byte, 0, size)
	for i, r := range records {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		scratch = rec.AppendTo(scratch[:0])
		body := scratch[1:] // a zero Length is the one byte 0x00
		section = binary.AppendVarint(section, int64(len(body)))
		section = append(section, body...)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(records) - 1),
		FirstTimestamp: nowMs, MaxTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(records)), Records: section,
	}
	rb.Length = int32(logstore.BatchHeaderBytes - 12 + len(section))
	p := rb.AppendTo(make([]byte, 0, logstore.BatchHeaderBytes+len(section)))
	logstore.ChecksumBatch(p)
	return p
}

const (
	batchAttrControl = 0x20
)

// batchDecoder reads the records of __transaction_state batches.
type batchDecoder struct {
	codecs *logstore.Codecs
}

// decode calls fn for every record of the batches filling p, in offset
// order, and returns the offset after the last batch (from when p is
// empty). A batch that fails its checks is corruption.
func (d *batchDecoder) decode(p []byte, from int64, fn func(offset int64, r internaltopic.Record)) (int64, error) {
	next := from
	err := logstore.EachBatch(p, func(b *logstore.Batch) error {
		next = b.NextOffset()
		if b.Attributes&batchAttrControl != 0 {
			return nil
		}
		if err := d.decodeRecords(b, fn); err != nil {
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

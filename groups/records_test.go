package groups

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/logstore/internaltopic"
)

// referenceBatch encodes records the plain way: each record on its own,
// its length before it, the batch's header and CRC from kmsg and logstore.
func referenceBatch(records []internaltopic.Record, nowMs int64, producer *Producer) []byte {
	var section []byte
	for i, r := range records {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		body := rec.AppendTo(nil)[1:] // a zero Length is the one byte 0x00
		section = binary.AppendVarint(section, int64(len(body)))
		section = append(section, body...)
	}
	rb := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(records) - 1),
		FirstTimestamp: nowMs, MaxTimestamp: nowMs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(records)), Records: section}
	if producer != nil {
		rb.Attributes |= batchAttrTransactional
		rb.ProducerID, rb.ProducerEpoch = producer.ID, producer.Epoch
	}
	rb.Length = int32(logstore.BatchHeaderBytes - 12 + len(section))
	p := rb.AppendTo(nil)
	logstore.ChecksumBatch(p)
	return p
}

// encodeBatch writes the bytes the plain encoding does, for records whose
// lengths take one to three bytes, tombstones and transactional batches.
func TestEncodeBatchMatchesThePlainEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	sizes := []int{0, 1, 20, 50, 60, 63, 64, 100, 8000, 8200, 70000}
	for round := range 200 {
		records := make([]internaltopic.Record, 1+rng.IntN(40))
		for i := range records {
			records[i].Key = blob(sizes[rng.IntN(len(sizes))])
			if rng.IntN(5) > 0 {
				records[i].Value = blob(sizes[rng.IntN(len(sizes))])
			}
		}
		var producer *Producer
		if round%3 == 0 {
			producer = &Producer{ID: int64(round), Epoch: int16(round % 7)}
		}
		nowMs := int64(1_700_000_000_000 + round)
		if got, want := encodeBatch(records, nowMs, producer), referenceBatch(records, nowMs, producer); !bytes.Equal(got, want) {
			t.Fatalf("round %d (%d records): encodeBatch differs from the plain encoding", round, len(records))
		}
	}
}

// An offset commit's records and its batch are a few allocations, however
// many partitions it names (each partition's key and value took several,
// as each grew its slice, and the batch three more per record).
func TestOffsetCommitRecordsAllocateOnce(t *testing.T) {
	commits := make([]plannedCommit, 10)
	for i := range commits {
		commits[i] = plannedCommit{tp: topicPartition{topic: "orders", partition: int32(i)},
			entry: offsetEntry{offset: int64(i) * 1000, leaderEpoch: 3, metadata: fmt.Sprint("m", i), commitWallMs: 1_700_000_000_000}}
	}
	var records []internaltopic.Record
	if n := testing.AllocsPerRun(100, func() { records = offsetCommitRecords("a-group", commits) }); n > 2 {
		t.Errorf("offsetCommitRecords: %.0f allocations for 10 partitions, want 2", n)
	}
	if n := testing.AllocsPerRun(100, func() { encodeBatch(records, 1_700_000_000_000, nil) }); n > 1 {
		t.Errorf("encodeBatch: %.0f allocations for 10 records, want 1", n)
	}
	for i, r := range records {
		var k kmsg.OffsetCommitKey
		var v kmsg.OffsetCommitValue
		if err := k.ReadFrom(r.Key); err != nil || k.Group != "a-group" || k.Topic != "orders" || k.Partition != int32(i) {
			t.Fatalf("record %d: key %+v, %v", i, k, err)
		}
		if err := v.ReadFrom(r.Value); err != nil || v.Version != offsetCommitValueVersion || v.Offset != int64(i)*1000 ||
			v.LeaderEpoch != 3 || v.Metadata != fmt.Sprint("m", i) || v.CommitTimestamp != 1_700_000_000_000 {
			t.Fatalf("record %d: value %+v, %v", i, v, err)
		}
		if !bytes.Equal(r.Key, offsetKey("a-group", "orders", int32(i))) {
			t.Fatalf("record %d: key differs from offsetKey's", i)
		}
	}
}

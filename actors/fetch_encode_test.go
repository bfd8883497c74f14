package actors

import (
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// recordBatch encodes a RecordBatch v2 of n small records.
func recordBatch(n int) []byte {
	b := kmsg.RecordBatch{Magic: 2, NumRecords: int32(n), LastOffsetDelta: int32(n - 1), FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("value-%d", i))}
		recs = r.AppendTo(recs)
	}
	b.Records = recs
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	return raw
}

// The spliced encoding of a Fetch response equals kmsg's encoding of the same
// response with the records copied in, at every version.
func TestEncodeFetchResponseMatchesCopy(t *testing.T) {
	opts := logstore.Options{FS: vfs.NewMem(), Dir: "/p", Config: logstore.DefaultConfig(), NowMs: 1}
	log, err := logstore.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	for i := 0; i < 5; i++ {
		if _, err := log.Append([][]byte{recordBatch(3 + i)}, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	for i, version := 0, int16(4); version <= 18; i, version = i+1, version+1 {
		// Buffers just as large as asked, and larger.
		extraBytes := []int{0, 4 << 10}[i%2]
		build := func() (*kmsg.FetchResponse, []partitionRecords) {
			resp := kmsg.NewPtrFetchResponse()
			resp.Version = version
			var records []partitionRecords
			for _, name := range []string{"a", "b"} {
				rt := kmsg.NewFetchResponseTopic()
				rt.Topic = name
				for p := int32(0); p < 3; p++ {
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.Partition, rp.HighWatermark, rp.RecordBatches = p, 25, []byte{}
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			for _, at := range [][2]int{{0, 0}, {0, 2}, {1, 1}} {
				recs, err := log.Read(int64(at[0]+at[1]), 1<<20, log.LogEndOffset())
				if err != nil {
					t.Fatal(err)
				}
				records = append(records, partitionRecords{partition: &resp.Topics[at[0]].Partitions[at[1]], records: recs})
			}
			return resp, records
		}
		resp, records := build()
		want := func() []byte {
			r2, recs2 := build()
			for _, pr := range recs2 {
				b, err := pr.records.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				pr.partition.RecordBatches = b
				pr.records.Release()
			}
			return r2.AppendTo(nil)
		}()
		enc, ok := encodeFetchResponse(resp, records, newSaltSource(crand.Reader), func(n int) []byte { return make([]byte, 0, n+extraBytes) })
		if !ok {
			t.Fatalf("v%d: placeholders not found", version)
		}
		if got := enc.AppendTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d: spliced encoding differs (%d bytes, want %d)", version, len(got), len(want))
		}
		enc.Release()
	}
}

// A response larger than the buffer's estimate (here, by unknown tagged
// fields) still encodes right, into a larger buffer that netio takes back.
func TestEncodeFetchResponseOutgrowsItsBuffer(t *testing.T) {
	log, err := logstore.Open(logstore.Options{FS: vfs.NewMem(), Dir: "/p", Config: logstore.DefaultConfig(), NowMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.Append([][]byte{recordBatch(4)}, 0, 1); err != nil {
		t.Fatal(err)
	}
	build := func() (*kmsg.FetchResponse, []partitionRecords) {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 12
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "t"
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.RecordBatches = p, []byte{}
			rp.UnknownTags.Set(99, bytes.Repeat([]byte{'x'}, 500))
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
		var records []partitionRecords
		for p := range rt.Partitions {
			recs, err := log.Read(0, 1<<20, log.LogEndOffset())
			if err != nil {
				t.Fatal(err)
			}
			records = append(records, partitionRecords{partition: &resp.Topics[0].Partitions[p], records: recs})
		}
		return resp, records
	}
	r2, recs2 := build()
	for _, pr := range recs2 {
		pr.partition.RecordBatches, _ = pr.records.Bytes()
		pr.records.Release()
	}
	want := r2.AppendTo(nil)
	resp, records := build()
	var asked int
	enc, ok := encodeFetchResponse(resp, records, newSaltSource(crand.Reader), func(n int) []byte { asked = n; return make([]byte, 0, n) })
	if !ok {
		t.Fatal("placeholders not found")
	}
	defer enc.Release()
	if got := enc.AppendTo(nil); !bytes.Equal(got, want) {
		t.Fatalf("spliced encoding differs (%d bytes, want %d)", len(got), len(want))
	}
	if len(want) <= asked {
		t.Fatalf("asked for %d bytes for a %d-byte response: the test proves nothing", asked, len(want))
	}
	// The body moved to a larger buffer: that one goes back to the pool.
	if cap(enc.Parts[0].Bytes) != cap(enc.Buffer) {
		t.Fatalf("the buffer handed back (%d bytes) is not the one holding the body", cap(enc.Buffer))
	}
}

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
	for version := int16(4); version <= 18; version++ {
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
		enc, ok := encodeFetchResponse(resp, records, newSaltSource(crand.Reader))
		if !ok {
			t.Fatalf("v%d: placeholders not found", version)
		}
		if got := enc.AppendTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d: spliced encoding differs (%d bytes, want %d)", version, len(got), len(want))
		}
		enc.Release()
	}
}

package actors

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/netio"
)

// fetchRecordsMarkerBytes is the length of the placeholder that stands for a
// partition's records while the rest of a Fetch response is encoded.
const fetchRecordsMarkerBytes = 16

// encodeFetchResponse encodes resp with each partition's records going to the
// socket from where they are (file sections through sendfile, cached blocks
// from memory) instead of being copied into the response: every partition in
// records carries a unique placeholder through kmsg's encoder, and the
// placeholder and its length prefix are then swapped for the real length and
// a part that writes the records. The response releases the records once
// written or dropped. It returns false, releasing nothing, when a placeholder
// cannot be found where expected (the caller falls back to copying).
func encodeFetchResponse(resp *kmsg.FetchResponse, records map[*kmsg.FetchResponseTopicPartition]*logstore.Records) (*netio.EncodedResponse, bool) {
	var salt [fetchRecordsMarkerBytes - 4]byte
	binary.LittleEndian.PutUint64(salt[:], rand.Uint64())
	binary.LittleEndian.PutUint32(salt[8:], rand.Uint32())
	type placed struct {
		marker  []byte
		records *logstore.Records
	}
	// Partitions in encoding order: topics, then partitions, as kmsg writes.
	var order []placed
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			rp := &resp.Topics[ti].Partitions[pi]
			recs, ok := records[rp]
			if !ok {
				continue
			}
			marker := make([]byte, fetchRecordsMarkerBytes)
			copy(marker, salt[:])
			binary.BigEndian.PutUint32(marker[len(salt):], uint32(len(order)))
			rp.RecordBatches = marker
			order = append(order, placed{marker: marker, records: recs})
		}
	}
	body := resp.AppendTo(nil)
	flexible := resp.Version >= 12
	enc := &netio.EncodedResponse{Response: resp}
	prev := 0
	for _, p := range order {
		at := bytes.Index(body[prev:], p.marker)
		if at < 0 {
			return nil, false
		}
		at += prev
		// The placeholder's length prefix: compact bytes (uvarint of
		// length+1) in flexible versions, an int32 before.
		var prefixBytes int
		var prefix []byte
		if flexible {
			if at < 1 || body[at-1] != fetchRecordsMarkerBytes+1 {
				return nil, false
			}
			prefixBytes = 1
			prefix = binary.AppendUvarint(nil, uint64(p.records.Len())+1)
		} else {
			if at < 4 || binary.BigEndian.Uint32(body[at-4:]) != fetchRecordsMarkerBytes {
				return nil, false
			}
			prefixBytes = 4
			prefix = binary.BigEndian.AppendUint32(nil, uint32(p.records.Len()))
		}
		enc.Parts = append(enc.Parts,
			netio.EncodedPart{Bytes: body[prev : at-prefixBytes]},
			netio.EncodedPart{Bytes: prefix},
			netio.EncodedPart{From: p.records, FromBytes: p.records.Len()})
		prev = at + fetchRecordsMarkerBytes
	}
	enc.Parts = append(enc.Parts, netio.EncodedPart{Bytes: body[prev:]})
	enc.Release = func() {
		for _, p := range order {
			p.records.Release()
		}
	}
	return enc, true
}

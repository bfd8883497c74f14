package actors

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/netio"
)

// fetchRecordsMarkerBytes is the length of the placeholder that stands for a
// partition's records while the rest of a Fetch response is encoded.
const fetchRecordsMarkerBytes = 16

// partitionRecords are the records one partition of a Fetch response carries.
type partitionRecords struct {
	partition *kmsg.FetchResponseTopicPartition
	records   *logstore.Records
}

// encodeFetchResponse encodes resp with each partition's records going to the
// socket from where they are (file sections through sendfile, cached blocks
// from memory) instead of being copied into the response: every partition in
// records (given in resp's order, the order kmsg encodes them) carries a
// unique placeholder through kmsg's encoder, and the placeholder's length
// prefix is then rewritten in place with the real length, followed by a part
// that writes the records. The response releases the records once written
// or dropped. It returns false, releasing nothing, when no salt can be drawn
// or a placeholder cannot be found where expected (the caller falls back to
// copying).
//
// The encoding allocates nothing per partition: the placeholders and the
// body share one buffer from newBuffer (Request.ResponseBuffer: the server's
// pool, to which netio returns it after the write), and each real length
// prefix overwrites the placeholder it replaces.
func encodeFetchResponse(resp *kmsg.FetchResponse, records []partitionRecords, salts *saltSource, newBuffer func(n int) []byte) (*netio.EncodedResponse, bool) {
	var salt [fetchRecordsMarkerBytes - 4]byte
	if !salts.draw(salt[:]) {
		return nil, false
	}
	markersBytes := fetchRecordsMarkerBytes * len(records)
	buf := newBuffer(markersBytes + fetchBodyEstimate(resp))
	markers := buf[:markersBytes]
	for i, pr := range records {
		marker := markers[i*fetchRecordsMarkerBytes : (i+1)*fetchRecordsMarkerBytes : (i+1)*fetchRecordsMarkerBytes]
		copy(marker, salt[:])
		binary.BigEndian.PutUint32(marker[len(salt):], uint32(i))
		pr.partition.RecordBatches = marker
	}
	// The body follows the placeholders in the same buffer (append moves
	// it to a larger one if the estimate fell short).
	body := resp.AppendTo(buf[markersBytes:markersBytes])
	buffer := buf
	if cap(body) != cap(buf)-markersBytes {
		buffer = body // the one netio takes back
	}
	flexible := resp.Version >= 12
	enc := &netio.EncodedResponse{Response: resp, Parts: make([]netio.EncodedPart, 0, 2*len(records)+1), Buffer: buffer}
	prev := 0
	for i, pr := range records {
		marker := markers[i*fetchRecordsMarkerBytes : (i+1)*fetchRecordsMarkerBytes]
		at := bytes.Index(body[prev:], marker)
		if at < 0 {
			return nil, false
		}
		at += prev
		// The placeholder's length prefix (compact bytes: uvarint of
		// length+1, in flexible versions; an int32 before) becomes the
		// real one, written over it and the placeholder's first bytes,
		// which are not sent.
		var prefixEnd int
		if flexible {
			if at < 1 || body[at-1] != fetchRecordsMarkerBytes+1 {
				return nil, false
			}
			prefixEnd = at - 1 + binary.PutUvarint(body[at-1:at+fetchRecordsMarkerBytes], uint64(pr.records.Len())+1)
		} else {
			if at < 4 || binary.BigEndian.Uint32(body[at-4:]) != fetchRecordsMarkerBytes {
				return nil, false
			}
			binary.BigEndian.PutUint32(body[at-4:], uint32(pr.records.Len()))
			prefixEnd = at
		}
		enc.Parts = append(enc.Parts,
			netio.EncodedPart{Bytes: body[prev:prefixEnd]},
			netio.EncodedPart{From: pr.records, FromBytes: pr.records.Len()})
		prev = at + fetchRecordsMarkerBytes
	}
	enc.Parts = append(enc.Parts, netio.EncodedPart{Bytes: body[prev:]})
	enc.Release = func() {
		for _, pr := range records {
			pr.records.Release()
		}
	}
	return enc, true
}

// fetchBodyEstimate is a size that usually holds resp's encoding with
// placeholders for records (an underestimate costs a larger buffer).
func fetchBodyEstimate(resp *kmsg.FetchResponse) int {
	const (
		fixedBytes        = 64 // header fields, arrays, tags
		perTopicBytes     = 32 // topic id, arrays, tags, besides the name
		perPartitionBytes = 80 // fixed fields, aborted transactions, tags, placeholder
	)
	n := fixedBytes
	for i := range resp.Topics {
		t := &resp.Topics[i]
		n += perTopicBytes + len(t.Topic) + perPartitionBytes*len(t.Partitions)
		for j := range t.Partitions {
			n += len(t.Partitions[j].AbortedTransactions) * 16
		}
	}
	return n
}

// saltSource draws the placeholders' salts from a ChaCha8 stream seeded from
// the node's entropy on first use (a client cannot predict a placeholder, so
// cannot plant one in a response). Safe for concurrent use.
type saltSource struct {
	entropy io.Reader
	mu      sync.Mutex
	rng     *rand.ChaCha8
}

func newSaltSource(entropy io.Reader) *saltSource { return &saltSource{entropy: entropy} }

// draw fills salt, or reports false when the entropy could not be read.
func (s *saltSource) draw(salt []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng == nil {
		var seed [32]byte
		if _, err := io.ReadFull(s.entropy, seed[:]); err != nil {
			return false
		}
		s.rng = rand.NewChaCha8(seed)
	}
	_, _ = s.rng.Read(salt)
	return true
}

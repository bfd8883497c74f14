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
// unique placeholder through kmsg's encoder, and the placeholder and its
// length prefix are then swapped for the real length and a part that writes
// the records. The response releases the records once written or dropped. It
// returns false, releasing nothing, when no salt can be drawn or a
// placeholder cannot be found where expected (the caller falls back to
// copying).
func encodeFetchResponse(resp *kmsg.FetchResponse, records []partitionRecords, salts *saltSource) (*netio.EncodedResponse, bool) {
	var salt [fetchRecordsMarkerBytes - 4]byte
	if !salts.draw(salt[:]) {
		return nil, false
	}
	markers := make([][]byte, len(records))
	for i, pr := range records {
		marker := make([]byte, fetchRecordsMarkerBytes)
		copy(marker, salt[:])
		binary.BigEndian.PutUint32(marker[len(salt):], uint32(i))
		pr.partition.RecordBatches = marker
		markers[i] = marker
	}
	body := resp.AppendTo(nil)
	flexible := resp.Version >= 12
	enc := &netio.EncodedResponse{Response: resp}
	prev := 0
	for i, pr := range records {
		at := bytes.Index(body[prev:], markers[i])
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
			prefix = binary.AppendUvarint(nil, uint64(pr.records.Len())+1)
		} else {
			if at < 4 || binary.BigEndian.Uint32(body[at-4:]) != fetchRecordsMarkerBytes {
				return nil, false
			}
			prefixBytes = 4
			prefix = binary.BigEndian.AppendUint32(nil, uint32(pr.records.Len()))
		}
		enc.Parts = append(enc.Parts,
			netio.EncodedPart{Bytes: body[prev : at-prefixBytes]},
			netio.EncodedPart{Bytes: prefix},
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

package actors

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// bombSection returns a zip bomb: the compressed record section of one
// well-formed record whose value is valueMiB MiB of zeros, a few hundred
// KiB long. It is built of concatenated compressed streams (gzip members,
// lz4 and zstd frames), which decode as one: the record's head, the same
// compressed MiB of zeros valueMiB times, the record's end. So it costs
// one MiB of compression, not the whole value (slow under -race).
func bombSection(t *testing.T, codec int8, valueMiB int) []byte {
	t.Helper()
	compress := func(p []byte) []byte {
		var out bytes.Buffer
		var w io.WriteCloser
		switch codec {
		case 1:
			w, _ = gzip.NewWriterLevel(&out, gzip.BestCompression)
		case 3:
			w = lz4.NewWriter(&out)
		case 4:
			zw, err := zstd.NewWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			w = zw
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	// attributes, timestamp delta, offset delta, key length -1, value
	// length; the zeros; no headers.
	valueBytes := valueMiB << 20
	head := []byte{0}
	head = binary.AppendVarint(head, 0)
	head = binary.AppendVarint(head, 0)
	head = binary.AppendVarint(head, -1)
	head = binary.AppendVarint(head, int64(valueBytes))
	record := binary.AppendVarint(nil, int64(len(head)+valueBytes+1))
	section := compress(append(record, head...))
	section = append(section, bytes.Repeat(compress(make([]byte, 1<<20)), valueMiB)...)
	return append(section, compress([]byte{0})...)
}

// bombBatch wraps a compressed section in a one-record batch with a right
// CRC.
func bombBatch(section []byte, codec int8) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(codec), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: section}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	return raw
}

// A zip bomb (a batch of at most a few MiB holding a record of 512 MiB of
// zeros) sent by a raw client is refused with MESSAGE_TOO_LARGE in each
// codec that compresses that well, without the node inflating it: each
// refusal allocates well under half the bomb (about twice the 64 MiB bound
// in the decoding buffer; under the race detector, less than the bomb). The node stays up and the same connection
// appends a good batch at offset 0 after.
func TestProduceRefusesZipBomb(t *testing.T) {
	const bombMiB = 512
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 120*time.Second)
	// lz4 compresses zeros about 250 to 1: its bomb is 2 MiB.
	configs := map[string]*string{"max.message.bytes": kadm.StringPtr("8388608")}
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, configs, "bombed"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, n)
	for _, codec := range []int8{1, 3, 4} {
		batch := bombBatch(bombSection(t, codec, bombMiB), codec)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := c.produce(t, "bombed", batch)
		runtime.ReadMemStats(&after)
		if p.ErrorCode != kerr.MessageTooLarge.Code || p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, "inflates past") {
			t.Errorf("codec %d bomb of %d bytes: code %d %v, want MESSAGE_TOO_LARGE", codec, len(batch), p.ErrorCode, p.ErrorMessage)
		}
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("codec %d: a bomb of %d bytes refused, %d MiB allocated", codec, len(batch), allocated>>20)
		limit := uint64(bombMiB << 20 / 2)
		if raceDetector {
			// sync.Pool drops buffers at random: the lz4 reader makes
			// its block buffers again for many of the bomb's frames.
			limit = bombMiB << 20
		}
		if allocated > limit {
			t.Errorf("codec %d: refusing the bomb allocated %d MiB", codec, allocated>>20)
		}
	}
	if p := c.produce(t, "bombed", rvBatch(t, rvRecords([]byte("a"), nil), 2, 4)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the bombs: code %d at offset %d, want 0 at 0", p.ErrorCode, p.BaseOffset)
	}
}

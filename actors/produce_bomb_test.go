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

// bombSection streams one well-formed record whose value is valueBytes
// zeros through a compressing writer, never holding the value in memory,
// and returns the compressed section: a zip bomb a few hundred KiB long.
func bombSection(t *testing.T, codec int8, valueBytes int) []byte {
	t.Helper()
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
	// attributes, timestamp delta, offset delta, key length -1, value
	// length; the zeros; no headers.
	head := []byte{0}
	head = binary.AppendVarint(head, 0)
	head = binary.AppendVarint(head, 0)
	head = binary.AppendVarint(head, -1)
	head = binary.AppendVarint(head, int64(valueBytes))
	record := binary.AppendVarint(nil, int64(len(head)+valueBytes+1))
	record = append(record, head...)
	if _, err := w.Write(record); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for left := valueBytes; left > 0; left -= len(zeros) {
		if _, err := w.Write(zeros[:min(left, len(zeros))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
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

// A zip bomb (a batch under max.message.bytes holding a record of 512 MiB
// of zeros; 160 MiB for lz4, which compresses zeros less) sent by a raw
// client is refused with MESSAGE_TOO_LARGE in each codec that compresses
// that well, without the node inflating it: each refusal allocates at most
// about twice the 64 MiB bound. The node stays up and the same
// connection appends a good batch at offset 0 after.
func TestProduceRefusesZipBomb(t *testing.T) {
	const bombBytes = 512 << 20
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 120*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "bombed"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, n)
	for _, codec := range []int8{1, 3, 4} {
		size := bombBytes
		if codec == 3 {
			size = 160 << 20
		}
		batch := bombBatch(bombSection(t, codec, size), codec)
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
		if allocated > 2*logstore.MaxDecompressedBatchBytes+16<<20 {
			t.Errorf("codec %d: refusing the bomb allocated %d MiB", codec, allocated>>20)
		}
	}
	if p := c.produce(t, "bombed", rvBatch(t, rvRecords([]byte("a"), nil), 2, 4)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the bombs: code %d at offset %d, want 0 at 0", p.ErrorCode, p.BaseOffset)
	}
}

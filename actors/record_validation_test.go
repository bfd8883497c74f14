package actors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// rvRecords encodes records with the given keys (nil: none) and offset
// deltas 0..n-1.
func rvRecords(keys ...[]byte) []byte {
	var out []byte
	for i, k := range keys {
		r := kmsg.Record{OffsetDelta: int32(i), Key: k, Value: []byte("value")}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		out = r.AppendTo(out)
	}
	return out
}

// rvBatch wraps a record section, compressed with codec, in a batch with a
// correct CRC declaring n records.
func rvBatch(t *testing.T, section []byte, n int32, codec int8) []byte {
	t.Helper()
	if codec != 0 {
		c, err := kgo.DefaultCompressor(map[int8]kgo.CompressionCodec{1: kgo.GzipCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()}[codec])
		if err != nil {
			t.Fatal(err)
		}
		out, _ := c.Compress(new(bytes.Buffer), section)
		section = append([]byte(nil), out...)
	}
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(codec), LastOffsetDelta: n - 1, FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: section}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	return raw
}

// rawConn is one TCP connection speaking Produce v8 (no flexible header),
// to show that a refused batch leaves the connection up.
type rawConn struct {
	conn net.Conn
	fmtr *kmsg.RequestFormatter
	corr int32
}

func (c *rawConn) produce(t *testing.T, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(8)
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.corr++
	if err := c.conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(c.fmtr.AppendRequest(nil, req, c.corr)); err != nil {
		t.Fatalf("write produce: %v (connection closed?)", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		t.Fatalf("read produce response: %v (connection closed?)", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.conn, body); err != nil {
		t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.SetVersion(8)
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func dialRaw(t *testing.T, n *Node) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{conn: conn, fmtr: kmsg.NewRequestFormatter(kmsg.FormatterClientID("record-validation"))}
}

// A batch with a correct CRC but a broken record is refused with
// INVALID_RECORD (CORRUPT_MESSAGE when it does not decompress), nothing of
// it is appended, and the connection stays up.
func TestProduceRefusesMalformedRecords(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "strict"); err != nil {
		t.Fatal(err)
	}
	zeroLength := rvRecords([]byte("k"))
	zeroLength[0] = 0
	keyPastRecord := rvRecords([]byte("k"))
	keyPastRecord[4] = 100 // zigzag 50: a key of 50 bytes in a record of 13
	tests := []struct {
		name  string
		batch []byte
		code  int16
		want  string
	}{
		{"zero length prefix", rvBatch(t, zeroLength, 1, 0), kerr.InvalidRecord.Code, "length prefix 0"},
		{"count above the records", rvBatch(t, rvRecords([]byte("a"), []byte("b")), 3, 0), kerr.InvalidRecord.Code, "declares 3 records but holds 2"},
		{"count below the records", rvBatch(t, rvRecords([]byte("a"), []byte("b")), 1, 0), kerr.InvalidRecord.Code, "past its 1 declared"},
		{"offset deltas out of order", rvBatch(t, append(rvRecords([]byte("a")), rvRecords([]byte("b"))...), 2, 0), kerr.InvalidRecord.Code, "offset delta 0, expected 1"},
		{"key past the record", rvBatch(t, keyPastRecord, 1, 0), kerr.InvalidRecord.Code, "past the record"},
		{"varint past the batch end", rvBatch(t, []byte{0xff, 0xff}, 1, 0), kerr.InvalidRecord.Code, "malformed length prefix"},
		{"lz4 with offset deltas out of order", rvBatch(t, append(rvRecords([]byte("a")), rvRecords([]byte("b"))...), 2, 3), kerr.InvalidRecord.Code, "offset delta"},
		{"zstd with a zero length prefix", rvBatch(t, zeroLength, 1, 4), kerr.InvalidRecord.Code, "length prefix 0"},
		{"gzip that does not decompress", func() []byte {
			b := rvBatch(t, []byte("not gzip at all"), 1, 0)
			binary.BigEndian.PutUint16(b[21:], 1)
			logstore.ChecksumBatch(b)
			return b
		}(), kerr.CorruptMessage.Code, "decompress"},
	}
	c := dialRaw(t, n)
	for _, tt := range tests {
		p := c.produce(t, "strict", tt.batch)
		if p.ErrorCode != tt.code || p.ErrorMessage == nil || !strings.Contains(*p.ErrorMessage, tt.want) {
			msg := "<nil>"
			if p.ErrorMessage != nil {
				msg = *p.ErrorMessage
			}
			t.Errorf("%s: code %d %q, want %d with %q", tt.name, p.ErrorCode, msg, tt.code, tt.want)
		}
	}
	// Nothing was appended: the first good batch, on the same connection,
	// lands at offset 0.
	if p := c.produce(t, "strict", rvBatch(t, rvRecords([]byte("a"), nil), 2, 4)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the refused ones: code %d at offset %d, want 0 at 0", p.ErrorCode, p.BaseOffset)
	}
}

// A compacted topic refuses records without a key: franz-go sees
// INVALID_RECORD, a Produce v8 answer names the keyless records, and the
// batch holding them is not appended.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "keys"); err != nil {
		t.Fatal(err)
	}
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "keys", Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record with franz-go: %v, want INVALID_RECORD", err)
	}
	c := dialRaw(t, n)
	p := c.produce(t, "keys", rvBatch(t, rvRecords([]byte("a"), nil, []byte("c"), nil), 4, 0))
	if p.ErrorCode != kerr.InvalidRecord.Code || len(p.ErrorRecords) != 2 || p.ErrorRecords[0].RelativeOffset != 1 || p.ErrorRecords[1].RelativeOffset != 3 {
		t.Fatalf("mixed batch: code %d, record errors %+v, want INVALID_RECORD at 1 and 3", p.ErrorCode, p.ErrorRecords)
	}
	if m := p.ErrorRecords[0].ErrorMessage; m == nil || !strings.Contains(*m, "without a key") {
		t.Fatalf("record error message %v", m)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "keys", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "keys")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("keys", 0); o.Offset != 1 {
		t.Fatalf("log end offset %d, want 1: only the keyed record was appended", o.Offset)
	}
}

package benchmarks

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is one connection of the raw load generator (rawtxn_test.go):
// kmsg's request formatter and response decoders over a plain TCP
// connection, nothing between. Requests may be pipelined (send several,
// then recv their answers in order, as a Kafka broker answers a
// connection's requests in order).
type rawConn struct {
	conn    net.Conn
	r       *bufio.Reader
	fmtr    *kmsg.RequestFormatter
	out, in []byte
	corr    int32
	// sent are the correlation ids and keys of the requests whose
	// answers are still to be read, oldest first.
	sent []rawSent
	// versions are the broker's highest versions by request key, from
	// its ApiVersions answer; finalized its finalized features.
	versions  map[int16]int16
	finalized map[string]int16
}

type rawSent struct {
	corr int32
	key  int16
}

// rawTimeout bounds every read and write of the load generator: a broker
// that stops answering fails the run rather than hanging it.
const rawTimeout = time.Minute

// dialRaw connects to addr and asks the broker's ApiVersions.
func dialRaw(addr, clientID string) (*rawConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &rawConn{
		conn: conn, r: bufio.NewReaderSize(conn, 64<<10),
		fmtr: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)),
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-bench-raw", "1"
	resp := &kmsg.ApiVersionsResponse{}
	if err := c.roundTrip(req, resp); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ApiVersions: %w", err)
	}
	if resp.ErrorCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("ApiVersions: %w", codeErr(resp.ErrorCode))
	}
	c.versions = map[int16]int16{}
	for _, k := range resp.ApiKeys {
		c.versions[k.ApiKey] = k.MaxVersion
	}
	c.finalized = map[string]int16{}
	for _, f := range resp.FinalizedFeatures {
		c.finalized[f.Name] = f.MaxVersionLevel
	}
	return c, nil
}

func (c *rawConn) close() { _ = c.conn.Close() }

// version is the version of key to send: the highest the broker and the
// load generator (want) both speak, or an error when the broker lacks it.
func (c *rawConn) version(key kmsg.Key, want int16) (int16, error) {
	max, ok := c.versions[int16(key)]
	if !ok {
		return 0, fmt.Errorf("broker does not serve %s", key.Name())
	}
	return min(max, want), nil
}

// send writes req (its version already set) without waiting for the answer.
func (c *rawConn) send(req kmsg.Request) error {
	c.corr++
	c.out = c.fmtr.AppendRequest(c.out[:0], req, c.corr)
	c.sent = append(c.sent, rawSent{corr: c.corr, key: req.Key()})
	if err := c.conn.SetWriteDeadline(time.Now().Add(rawTimeout)); err != nil {
		return err
	}
	_, err := c.conn.Write(c.out)
	return err
}

// recv reads the answer to the oldest request sent into resp, whose kind
// and version must be that request's.
func (c *rawConn) recv(resp kmsg.Response) error {
	if len(c.sent) == 0 {
		return errors.New("recv without a request in flight")
	}
	want := c.sent[0]
	c.sent = c.sent[1:]
	if resp.Key() != want.key {
		return fmt.Errorf("reading a %s answer for a %s request", kmsg.NameForKey(resp.Key()), kmsg.NameForKey(want.key))
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(rawTimeout)); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return fmt.Errorf("answer of %d bytes", n)
	}
	if cap(c.in) < n {
		c.in = make([]byte, n)
	}
	body := c.in[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != want.corr {
		return fmt.Errorf("correlation id %d, want %d", corr, want.corr)
	}
	body = body[4:]
	// A flexible answer's header ends in tagged fields; ApiVersions'
	// header never has them (KIP-511).
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		var err error
		if body, err = skipTags(body); err != nil {
			return fmt.Errorf("%s answer header: %w", kmsg.NameForKey(resp.Key()), err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("%s answer: %w", kmsg.NameForKey(resp.Key()), err)
	}
	return nil
}

// roundTrip sends req and reads its answer into resp, whose version it sets.
func (c *rawConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	resp.SetVersion(req.GetVersion())
	if err := c.send(req); err != nil {
		return err
	}
	return c.recv(resp)
}

// skipTags returns b past a tagged-fields section.
func skipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[k:]
	for range n {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		size, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[k+int(size):]
	}
	return b, nil
}

// Record batch (magic 2) header offsets.
const (
	batchLengthAt      = 8
	batchLeaderEpochAt = 12
	batchMagicAt       = 16
	batchCRCAt         = 17
	batchAttributesAt  = 21
	batchLastDeltaAt   = 23
	batchFirstTSAt     = 27
	batchMaxTSAt       = 35
	batchProducerIDAt  = 43
	batchEpochAt       = 51
	batchSequenceAt    = 53
	batchCountAt       = 57
	batchHeaderSize    = 61
	// batchTransactional is the attributes' transactional bit.
	batchTransactional = 0x10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawRecords is the records section of a batch of n records holding value,
// without key or headers, timestamp deltas 0 and offset deltas 0..n-1.
func rawRecords(value []byte, n int) []byte {
	var out []byte
	for i := range n {
		r := kmsg.NewRecord()
		r.OffsetDelta, r.Value = int32(i), value
		body := r.AppendTo(nil)
		// AppendTo writes Length as given (0, one byte): the record's
		// length is what follows it.
		r.Length = int32(len(body) - 1)
		out = r.AppendTo(out)
	}
	return out
}

// appendBatch appends a record batch of n records (records, from
// rawRecords) by producer id/epoch from sequence seq, transactional or not,
// stamped ts (Unix ms).
func appendBatch(dst []byte, records []byte, n int, id int64, epoch int16, seq int32, txn bool, ts int64) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, batchHeaderSize)...)
	h := dst[start:]
	be := binary.BigEndian
	be.PutUint64(h, 0) // base offset: the broker's to assign
	be.PutUint32(h[batchLengthAt:], uint32(batchHeaderSize-12+len(records)))
	be.PutUint32(h[batchLeaderEpochAt:], 0xffffffff)
	h[batchMagicAt] = 2
	var attributes uint16
	if txn {
		attributes |= batchTransactional
	}
	be.PutUint16(h[batchAttributesAt:], attributes)
	be.PutUint32(h[batchLastDeltaAt:], uint32(n-1))
	be.PutUint64(h[batchFirstTSAt:], uint64(ts))
	be.PutUint64(h[batchMaxTSAt:], uint64(ts))
	be.PutUint64(h[batchProducerIDAt:], uint64(id))
	be.PutUint16(h[batchEpochAt:], uint16(epoch))
	be.PutUint32(h[batchSequenceAt:], uint32(seq))
	be.PutUint32(h[batchCountAt:], uint32(n))
	dst = append(dst, records...)
	be.PutUint32(dst[start+batchCRCAt:], crc32.Checksum(dst[start+batchAttributesAt:], castagnoli))
	return dst
}

// codeErr is a Kafka error code as an error that names it.
func codeErr(code int16) error {
	return fmt.Errorf("%w (code %d)", kerr.ErrorForCode(code), code)
}

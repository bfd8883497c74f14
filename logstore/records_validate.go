package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// RecordRules are the checks the records of a produced batch must pass
// beyond their structure: what the topic demands of keys and timestamps.
type RecordRules struct {
	// RequireKeys refuses records without a key (a compacted topic).
	RequireKeys bool
	// CheckTimestamps refuses records whose timestamp (the batch's first
	// timestamp plus the record's delta) is outside [MinTimestampMs,
	// MaxTimestampMs]; a record timestamp of -1 (none) passes (a topic with
	// message.timestamp.type CreateTime). Whatever the rules, a batch whose
	// attributes say LogAppendTime, which only a broker may set, is refused
	// record by record, but for the records CheckTimestamps passes, as
	// Kafka's LogValidator.validateTimestamp does.
	CheckTimestamps                bool
	MinTimestampMs, MaxTimestampMs int64
}

// RecordError is one refused record: its index in the batch and why, as a
// Produce v8+ response's RecordErrors carry them.
type RecordError struct {
	BatchIndex int32
	Message    string
}

// RecordsErrorKind says which Kafka error a refused batch maps to.
type RecordsErrorKind int8

const (
	// InvalidRecords is INVALID_RECORD: a record's structure, offset delta
	// or key is wrong.
	InvalidRecords RecordsErrorKind = iota
	// CorruptRecords is CORRUPT_MESSAGE: the record section does not
	// decompress.
	CorruptRecords
	// InvalidTimestamps is INVALID_TIMESTAMP: a record's timestamp is out of
	// the topic's bounds.
	InvalidTimestamps
	// TooLargeRecords is MESSAGE_TOO_LARGE: the record section inflates
	// past MaxDecompressedBatchBytes.
	TooLargeRecords
)

// InvalidRecordsError is a batch ValidateRecords refused: the kind, a
// message for the partition, and the refused records when the refusal is
// per record (keys, timestamps); structural errors name no record list.
type InvalidRecordsError struct {
	Kind    RecordsErrorKind
	Message string
	Records []RecordError
}

// Error is the refusal's message (Message).
func (e *InvalidRecordsError) Error() string { return e.Message }

// recordBodyMinBytes is the smallest record body after its length prefix:
// attributes, timestamp delta, offset delta, key length, value length and
// header count, one byte each.
const recordBodyMinBytes = 6

// ValidateRecords checks every record of the batch b (which passed
// ParseBatch) and returns the largest record timestamp (-1 when none has
// one), which the batch's max timestamp must be, in one pass, decompressing a compressed record section into a
// pooled buffer: each length prefix matches the record it frames, varints
// are well formed and within the record, offset deltas run 0..n-1 in order,
// key, value and header lengths fit the record, the records fill the section
// exactly and number the header's record count, and the rules hold. Its
// error is nil or an *InvalidRecordsError, and it never panics on arbitrary
// input. It allocates nothing per record, and nothing per batch on success
// once its pools are warm.
func (c *Codecs) ValidateRecords(b *Batch, rules RecordRules) (int64, error) {
	if len(b.Raw) < BatchHeaderBytes {
		return -1, invalidRecords(InvalidRecords, "record batch of %d bytes is shorter than its header", len(b.Raw))
	}
	section := b.Raw[BatchHeaderBytes:]
	if codec := b.Attributes & 0x07; codec != 0 {
		buf, err := c.decompressPooled(section, kgo.CompressionCodecType(codec))
		if errors.Is(err, ErrDecompressedTooLarge) {
			return -1, invalidRecords(TooLargeRecords, "record batch of %d compressed bytes inflates past %d bytes (codec %d)",
				len(section), MaxDecompressedBatchBytes, codec)
		}
		if err != nil {
			return -1, invalidRecords(CorruptRecords, "record batch does not decompress (codec %d): %v", codec, err)
		}
		defer c.pool.PutDecompressBytes(buf)
		section = buf
	}
	return validateRecordSection(section, b, rules)
}

// validateRecordSection walks the uncompressed records of b. A structural
// error ends the walk; key and timestamp errors are gathered for every
// record, as Kafka reports them.
func validateRecordSection(section []byte, b *Batch, rules RecordRules) (int64, error) {
	if b.NumRecords < 0 {
		return -1, invalidRecords(InvalidRecords, "invalid record count %d", b.NumRecords)
	}
	var perRecord *InvalidRecordsError
	maxTs := int64(-1)
	logAppendTime := b.Attributes&attrLogAppendTime != 0
	pos := 0
	for i := int32(0); i < b.NumRecords; i++ {
		if pos >= len(section) {
			return -1, invalidRecords(InvalidRecords, "record batch declares %d records but holds %d", b.NumRecords, i)
		}
		rec, ok := readRecordFrameFast(section[pos:], i)
		if !ok {
			var err error
			if rec, err = readRecordFrame(section[pos:], i); err != nil {
				return -1, err
			}
		}
		pos += rec.size
		keyless := rules.RequireKeys && rec.keyLen < 0
		ts := b.FirstTimestamp + rec.timestampDelta
		maxTs = max(maxTs, ts)
		checked := rules.CheckTimestamps && ts != -1
		badTs := checked && (ts < rules.MinTimestampMs || ts > rules.MaxTimestampMs) || !checked && logAppendTime
		if keyless || badTs {
			perRecord = addRecordError(perRecord, i, keyless, ts, logAppendTime && !checked, rules)
		}
	}
	if pos != len(section) {
		return -1, invalidRecords(InvalidRecords, "record batch holds %d bytes past its %d declared records", len(section)-pos, b.NumRecords)
	}
	if b.NumRecords > 0 && b.LastOffsetDelta != b.NumRecords-1 {
		return -1, invalidRecords(InvalidRecords, "record batch holds %d records but its last offset delta is %d", b.NumRecords, b.LastOffsetDelta)
	}
	if perRecord != nil {
		perRecord.Message = perRecordMessage(perRecord)
		return -1, perRecord
	}
	return maxTs, nil
}

// recordFrame is what the walk needs of one record.
type recordFrame struct {
	size           int // with its length prefix
	timestampDelta int64
	keyLen         int64
}

// readRecordFrameFast reads the record i at the start of p when it has the
// common shape: every varint one or two bytes long, no headers. It reports
// false for any other record, well formed or not, which readRecordFrame
// then reads (and explains, if it is wrong); what it accepts, readRecordFrame
// accepts with the same frame (FuzzRecordFrameFast).
func readRecordFrameFast(p []byte, i int32) (recordFrame, bool) {
	length, pos, ok := varint12(p, 0)
	if !ok || length < recordBodyMinBytes || length > int64(len(p)-pos) {
		return recordFrame{}, false
	}
	end := pos + int(length)
	p = p[:end]
	pos++ // attributes: unused in v2, any value passes (as Kafka)
	timestampDelta, pos, ok := varint12(p, pos)
	if !ok {
		return recordFrame{}, false
	}
	offsetDelta, pos, ok := varint12(p, pos)
	if !ok || offsetDelta != int64(i) {
		return recordFrame{}, false
	}
	keyLen, pos, ok := varint12(p, pos)
	if !ok || keyLen < -1 || keyLen > int64(end-pos) {
		return recordFrame{}, false
	}
	pos += int(max(keyLen, 0))
	valueLen, pos, ok := varint12(p, pos)
	if !ok || valueLen < -1 || valueLen > int64(end-pos) {
		return recordFrame{}, false
	}
	pos += int(max(valueLen, 0))
	headers, pos, ok := varint12(p, pos)
	if !ok || headers != 0 || pos != end {
		return recordFrame{}, false
	}
	return recordFrame{size: end, timestampDelta: timestampDelta, keyLen: keyLen}, true
}

// varint12 reads a zigzag varint of one or two bytes at p[pos:] and
// returns it with the position after it; false for a longer one or when p
// ends first.
func varint12(p []byte, pos int) (int64, int, bool) {
	var x int64
	switch {
	case pos < len(p) && p[pos] < 0x80:
		x, pos = int64(p[pos]), pos+1
	case pos+1 < len(p) && p[pos+1] < 0x80:
		x, pos = int64(p[pos]&0x7f)|int64(p[pos+1])<<7, pos+2
	default:
		return 0, pos, false
	}
	return x>>1 ^ -(x & 1), pos, true
}

// readRecordFrame reads the record i at the start of p without copying it.
// It is the hot loop of produce validation: the fields are read by position
// with the inlined varint, not through a reader's methods (a call per field
// cost about twice as much per record).
func readRecordFrame(p []byte, i int32) (recordFrame, error) {
	length, n := varint(p)
	if n <= 0 || n > binary.MaxVarintLen32 {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: malformed length prefix", i)
	}
	if length < recordBodyMinBytes || length > int64(len(p)-n) {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: length prefix %d, %d bytes remain in the batch", i, length, len(p)-n)
	}
	body := p[n : n+int(length)]
	f := recordFrame{size: n + int(length)}
	malformed := func() (recordFrame, error) {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: malformed varint or a key or value past the record's %d bytes", i, length)
	}
	pos := 1 // attributes: unused in v2, any value passes (as Kafka)
	var m int
	if f.timestampDelta, m = varint(body[pos:]); m <= 0 {
		return malformed()
	}
	pos += m
	offsetDelta, m := varint(body[pos:])
	if !varint32(offsetDelta, m) {
		return malformed()
	}
	pos += m
	if f.keyLen, m = varint(body[pos:]); !varint32(f.keyLen, m) {
		return malformed()
	}
	if pos += m; f.keyLen > int64(len(body)-pos) {
		return malformed()
	}
	pos += int(max(f.keyLen, 0))
	valueLen, m := varint(body[pos:])
	if !varint32(valueLen, m) {
		return malformed()
	}
	if pos += m; valueLen > int64(len(body)-pos) {
		return malformed()
	}
	pos += int(max(valueLen, 0))
	headers, m := varint(body[pos:])
	if !varint32(headers, m) {
		return malformed()
	}
	pos += m
	if offsetDelta != int64(i) {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: inner record offset delta %d, expected %d (offset deltas must run from 0 in order)", i, offsetDelta, i)
	}
	if f.keyLen < -1 || valueLen < -1 {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: invalid key length %d or value length %d", i, f.keyLen, valueLen)
	}
	if headers < 0 || headers > int64(len(body)-pos) {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: invalid number of record headers %d", i, headers)
	}
	if headers > 0 {
		r := frameReader{p: body[pos:]}
		for h := int64(0); h < headers; h++ {
			if keyLen := r.bytes(); keyLen < 0 && !r.bad {
				return recordFrame{}, invalidRecords(InvalidRecords, "record %d: header %d has a negative key length %d", i, h, keyLen)
			}
			if r.bytes(); r.bad {
				return recordFrame{}, invalidRecords(InvalidRecords, "record %d: header %d runs past the record's %d bytes", i, h, length)
			}
		}
		pos = len(body) - len(r.p)
	}
	if pos != len(body) {
		return recordFrame{}, invalidRecords(InvalidRecords, "record %d: length prefix %d disagrees with the record's fields (%d bytes left over)", i, length, len(body)-pos)
	}
	return f, nil
}

// varint32 says whether varint's result (v, n) is a well-formed varint of a
// 32-bit field: read (n > 0), at most 5 bytes, and within int32.
func varint32(v int64, n int) bool {
	return n > 0 && n <= binary.MaxVarintLen32 && v >= math.MinInt32 && v <= math.MaxInt32
}

// frameReader reads varints and length-prefixed fields from a record's
// headers; bad latches the first malformed or overrunning read.
type frameReader struct {
	p   []byte
	bad bool
}

func (r *frameReader) varint() int64 {
	v, n := varint(r.p)
	if !varint32(v, n) {
		r.bad = true
		return 0
	}
	r.p = r.p[n:]
	return v
}

// bytes reads a varint length and skips that many bytes (none for a
// negative length); it returns the length.
func (r *frameReader) bytes() int64 {
	l := r.varint()
	if r.bad {
		return 0
	}
	if l > int64(len(r.p)) {
		r.bad = true
		return l
	}
	if l > 0 {
		r.p = r.p[l:]
	}
	return l
}

// varint is binary.Varint (a zigzag varint of at most 10 bytes; n == 0: p
// ended first, n < 0: too long; a 10th byte above 1 wraps, as in Kafka)
// written small enough to inline: a record's fields are a run of varints,
// read in the hot loop of produce validation.
func varint(p []byte) (int64, int) {
	var x uint64
	for i, b := range p {
		if i == binary.MaxVarintLen64 {
			return 0, -(i + 1)
		}
		if b < 0x80 {
			x |= uint64(b) << (7 * i)
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	return 0, 0
}

func invalidRecords(kind RecordsErrorKind, format string, args ...any) *InvalidRecordsError {
	return &InvalidRecordsError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// addRecordError records record i's refusal; a timestamp error makes the
// batch's error INVALID_TIMESTAMP, as Kafka's.
func addRecordError(e *InvalidRecordsError, i int32, keyless bool, ts int64, logAppendTime bool, rules RecordRules) *InvalidRecordsError {
	if e == nil {
		e = &InvalidRecordsError{Kind: InvalidRecords}
	}
	msg := "compacted topic cannot accept a record without a key"
	switch {
	case keyless:
	case logAppendTime:
		msg = "a producer may not set the timestamp type to LogAppendTime"
		e.Kind = InvalidTimestamps
	default:
		msg = fmt.Sprintf("timestamp %d is out of range [%d, %d]", ts, rules.MinTimestampMs, rules.MaxTimestampMs)
		e.Kind = InvalidTimestamps
	}
	e.Records = append(e.Records, RecordError{BatchIndex: i, Message: msg})
	return e
}

// perRecordMessage is the partition's message for per-record refusals: the
// count and the first three.
func perRecordMessage(e *InvalidRecordsError) string {
	if e.Kind == InvalidTimestamps {
		return "one or more records have been rejected due to invalid timestamp"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "one or more records have been rejected due to %d record errors in total, the first ones:", len(e.Records))
	for _, re := range e.Records[:min(len(e.Records), 3)] {
		fmt.Fprintf(&sb, " record %d: %s;", re.BatchIndex, re.Message)
	}
	return strings.TrimSuffix(sb.String(), ";")
}

// decompressBufferPool keeps decompression buffers for ValidateRecords; kgo
// decompresses into one of them (growing it when needed) through its
// PoolDecompressBytes interface. The buffers travel in *[]byte holders, and
// emptied holders are kept too, so that a warm pool allocates nothing.
type decompressBufferPool struct {
	bufs    sync.Pool // *[]byte holding a buffer
	holders sync.Pool // *[]byte holding nothing
}

// GetDecompressBytes returns a buffer to decompress into.
func (p *decompressBufferPool) GetDecompressBytes([]byte, kgo.CompressionCodecType) []byte {
	if h, ok := p.bufs.Get().(*[]byte); ok {
		b := (*h)[:0]
		*h = nil
		p.holders.Put(h)
		return b
	}
	return make([]byte, 0, 64<<10)
}

// PutDecompressBytes takes back a buffer: one kgo gave up on (a failed
// decompression), or one ValidateRecords is done with.
func (p *decompressBufferPool) PutDecompressBytes(b []byte) {
	h, ok := p.holders.Get().(*[]byte)
	if !ok {
		h = new([]byte)
	}
	*h = b
	p.bufs.Put(h)
}

// decompressPooled decompresses section into a pooled buffer; the caller
// puts it back with c.pool.PutDecompressBytes. A section that would inflate
// past MaxDecompressedBatchBytes is refused (ErrDecompressedTooLarge).
func (c *Codecs) decompressPooled(section []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	c.pooledOnce.Do(func() { c.pooled = newBoundedDecompressor(MaxDecompressedBatchBytes, &c.pool) })
	return c.pooled.decompress(section, codec)
}

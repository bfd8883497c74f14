package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// The durable form of metadata records: the bytes a metadata log stores and a
// Raft log will carry. It never changes meaning once written; a new field
// means a new record version.
//
//	record := apiKey uvarint | version uvarint | fields
//	fields:   int8 as one byte; int32 and int64 as zig-zag varints; a topic
//	          id as 16 bytes; a string as uvarint length and bytes; a
//	          nullable string or int32 array as uvarint length+1 (0 is null)
//	          and its items
//
//	batch  := length uint32 | crc32c uint32 | body        (big-endian)
//	body   := kind byte (0 records, 1 snapshot) | epoch varint | count uvarint
//	          | count × (uvarint length | record)
//
// length counts the crc and the body; the CRC-32C covers the body.

// MetadataBatch is records committed together: what one request changed, or
// (Snapshot) the records that rebuild a whole image.
type MetadataBatch struct {
	// Snapshot says the records rebuild an image from empty.
	Snapshot bool
	// Epoch is the epoch of the image the records apply to; for a snapshot,
	// the epoch of the image they rebuild.
	Epoch   int64
	Records []MetadataRecord
}

const (
	batchHeaderBytes = 8
	// maxMetadataBatchBytes bounds a batch a decoder accepts: a length field
	// beyond it is damage, not a batch.
	maxMetadataBatchBytes = 1 << 30
	recordVersion         = 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendMetadataBatch appends the encoded batch to dst.
func AppendMetadataBatch(dst []byte, b MetadataBatch) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, batchHeaderBytes)...)
	kind := byte(0)
	if b.Snapshot {
		kind = 1
	}
	dst = append(dst, kind)
	dst = binary.AppendVarint(dst, b.Epoch)
	dst = binary.AppendUvarint(dst, uint64(len(b.Records)))
	var rec []byte
	for _, r := range b.Records {
		rec = AppendMetadataRecord(rec[:0], r)
		dst = binary.AppendUvarint(dst, uint64(len(rec)))
		dst = append(dst, rec...)
	}
	body := dst[start+batchHeaderBytes:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)+4))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// DecodeMetadataBatch decodes the batch at the start of p and returns its
// size. A batch cut short is io.ErrUnexpectedEOF; one whose checksum fails
// is logstore.ErrCorruption; both are what a torn write leaves at the end of
// a log. Any other error is a batch that was written whole but does not
// decode.
func DecodeMetadataBatch(p []byte) (MetadataBatch, int, error) {
	if len(p) < batchHeaderBytes {
		return MetadataBatch{}, 0, io.ErrUnexpectedEOF
	}
	length := int64(binary.BigEndian.Uint32(p))
	if length < 4 || length > maxMetadataBatchBytes {
		return MetadataBatch{}, 0, fmt.Errorf("%w: metadata batch length %d", logstore.ErrCorruption, length)
	}
	if int64(len(p)) < 4+length {
		return MetadataBatch{}, 0, io.ErrUnexpectedEOF
	}
	body := p[batchHeaderBytes : 4+length]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(p[4:]) {
		return MetadataBatch{}, 0, fmt.Errorf("%w: metadata batch checksum", logstore.ErrCorruption)
	}
	d := decoder{p: body}
	var b MetadataBatch
	switch kind := d.int8(); kind {
	case 0:
	case 1:
		b.Snapshot = true
	default:
		d.fail(fmt.Errorf("metadata batch kind %d", kind))
	}
	b.Epoch = d.varint()
	count := d.count()
	for i := 0; i < count && d.err == nil; i++ {
		n := d.count()
		rec, err := DecodeMetadataRecord(d.bytes(n))
		if err != nil {
			d.fail(fmt.Errorf("record %d: %w", i, err))
			break
		}
		b.Records = append(b.Records, rec)
	}
	if d.err == nil && len(d.p) > 0 {
		d.fail(fmt.Errorf("%d bytes after the last record", len(d.p)))
	}
	if d.err != nil {
		return MetadataBatch{}, 0, fmt.Errorf("decode metadata batch: %w", d.err)
	}
	return b, int(4 + length), nil
}

// AppendMetadataRecord appends the encoded record to dst.
func AppendMetadataRecord(dst []byte, rec MetadataRecord) []byte {
	dst = binary.AppendUvarint(dst, uint64(rec.apiKey()))
	dst = binary.AppendUvarint(dst, recordVersion)
	e := encoder{p: dst}
	switch r := rec.(type) {
	case TopicRecord:
		e.string(r.Name)
		e.topicID(r.TopicID)
	case PartitionRecord:
		e.topicID(r.TopicID)
		e.int32(r.Partition)
		e.int32s(r.Replicas)
		e.int32s(r.ISR)
		e.int32(r.Leader)
		e.int32(r.LeaderEpoch)
		e.int32(r.PartitionEpoch)
	case ConfigRecord:
		e.p = append(e.p, byte(r.ResourceType))
		e.string(r.ResourceName)
		e.string(r.Name)
		e.nullableString(r.Value)
	case PartitionChangeRecord:
		e.topicID(r.TopicID)
		e.int32(r.Partition)
		e.int32(r.Leader)
		e.int32s(r.ISR)
		e.int32s(r.Replicas)
	case RemoveTopicRecord:
		e.topicID(r.TopicID)
	default:
		panic(fmt.Sprintf("metadata record %T has no encoding", rec))
	}
	return e.p
}

// DecodeMetadataRecord decodes one record written by AppendMetadataRecord;
// p must hold exactly the record.
func DecodeMetadataRecord(p []byte) (MetadataRecord, error) {
	d := decoder{p: p}
	key, version := d.uvarint(), d.uvarint()
	if d.err == nil && version != recordVersion {
		return nil, fmt.Errorf("metadata record %d version %d: this build reads version %d", key, version, recordVersion)
	}
	var rec MetadataRecord
	switch uint16(key) {
	case topicRecordKey:
		rec = TopicRecord{Name: d.string(), TopicID: d.topicID()}
	case partitionRecordKey:
		rec = PartitionRecord{TopicID: d.topicID(), Partition: d.int32(), Replicas: d.int32s(), ISR: d.int32s(),
			Leader: d.int32(), LeaderEpoch: d.int32(), PartitionEpoch: d.int32()}
	case configRecordKey:
		rec = ConfigRecord{ResourceType: kmsg.ConfigResourceType(d.int8()), ResourceName: d.string(), Name: d.string(), Value: d.nullableString()}
	case partitionChangeRecordKey:
		rec = PartitionChangeRecord{TopicID: d.topicID(), Partition: d.int32(), Leader: d.int32(), ISR: d.int32s(), Replicas: d.int32s()}
	case removeTopicRecordKey:
		rec = RemoveTopicRecord{TopicID: d.topicID()}
	default:
		d.fail(fmt.Errorf("unknown metadata record type %d", key))
	}
	if d.err == nil && len(d.p) > 0 {
		d.fail(fmt.Errorf("%d bytes after metadata record %d", len(d.p), key))
	}
	if d.err != nil {
		return nil, d.err
	}
	return rec, nil
}

type encoder struct{ p []byte }

func (e *encoder) int32(v int32)      { e.p = binary.AppendVarint(e.p, int64(v)) }
func (e *encoder) topicID(id TopicID) { e.p = append(e.p, id[:]...) }
func (e *encoder) string(s string)    { e.p = append(binary.AppendUvarint(e.p, uint64(len(s))), s...) }
func (e *encoder) nullableString(s *string) {
	if s == nil {
		e.p = binary.AppendUvarint(e.p, 0)
		return
	}
	e.p = append(binary.AppendUvarint(e.p, uint64(len(*s))+1), *s...)
}

func (e *encoder) int32s(v []int32) {
	if v == nil {
		e.p = binary.AppendUvarint(e.p, 0)
		return
	}
	e.p = binary.AppendUvarint(e.p, uint64(len(v))+1)
	for _, x := range v {
		e.int32(x)
	}
}

// decoder reads fields from p; the first error sticks and every later read
// returns zero values.
type decoder struct {
	p   []byte
	err error
}

var errShortRecord = errors.New("metadata record cut short")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.p = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail(errShortRecord)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail(errShortRecord)
		return 0
	}
	d.p = d.p[n:]
	return v
}

// count reads a length that must fit in what is left.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.p)) {
		d.fail(errShortRecord)
		return 0
	}
	return int(v)
}

func (d *decoder) bytes(n int) []byte {
	if n > len(d.p) {
		d.fail(errShortRecord)
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
}

func (d *decoder) int8() int8 {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return int8(b[0])
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if v < -1<<31 || v > 1<<31-1 {
		d.fail(fmt.Errorf("%d does not fit an int32", v))
		return 0
	}
	return int32(v)
}

func (d *decoder) topicID() TopicID {
	var id TopicID
	copy(id[:], d.bytes(len(id)))
	return id
}

// nullableCount reads a length+1 (0 is null) whose length fits in what is
// left.
func (d *decoder) nullableCount() (int, bool) {
	v := d.uvarint()
	if v == 0 || d.err != nil {
		return 0, true
	}
	if v-1 > uint64(len(d.p)) {
		d.fail(errShortRecord)
		return 0, true
	}
	return int(v - 1), false
}

func (d *decoder) string() string { return string(d.bytes(d.count())) }

func (d *decoder) nullableString() *string {
	n, null := d.nullableCount()
	if null {
		return nil
	}
	s := string(d.bytes(n))
	return &s
}

// int32s reads an array; every item takes at least a byte, so its length is
// bounded by what is left.
func (d *decoder) int32s() []int32 {
	n, null := d.nullableCount()
	if null {
		return nil
	}
	out := make([]int32, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.int32())
	}
	return out
}

// ReplayMetadataLog rebuilds the image a metadata log holds: a snapshot
// batch, then batches of records, each applied to the image of its epoch. It
// stops at the first batch a torn write cut short or damaged and returns how
// many bytes before it are whole; the caller truncates the log there. A log
// whose snapshot is not whole, or a whole batch that does not decode or apply,
// is an error: starting without those records would lose topics.
func ReplayMetadataLog(p []byte) (*MetadataImage, int, error) {
	b, n, err := DecodeMetadataBatch(p)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata log snapshot: %w", err)
	}
	if !b.Snapshot {
		return nil, 0, fmt.Errorf("metadata log starts with records at epoch %d, not a snapshot", b.Epoch)
	}
	img, err := ImageFromSnapshot(b.Epoch, b.Records)
	if err != nil {
		return nil, 0, err
	}
	whole := n
	for whole < len(p) {
		b, n, err := DecodeMetadataBatch(p[whole:])
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, logstore.ErrCorruption) {
			return img, whole, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("metadata log at byte %d: %w", whole, err)
		}
		if b.Snapshot || b.Epoch != img.Epoch {
			return nil, 0, fmt.Errorf("metadata log at byte %d: batch for epoch %d (snapshot %t) follows the image at epoch %d", whole, b.Epoch, b.Snapshot, img.Epoch)
		}
		if img, err = img.Apply(b.Records...); err != nil {
			return nil, 0, fmt.Errorf("metadata log at byte %d: %w", whole, err)
		}
		whole += n
	}
	return img, whole, nil
}

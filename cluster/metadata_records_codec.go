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
// means a new record version, and a record is written in the lowest version
// that holds it, so records that do not use a new field keep their bytes.
//
//	record := apiKey uvarint | version uvarint | fields
//	fields:   int8 and bool as one byte (a bool is 0 or 1); int32 and int64
//	          as zig-zag varints; uint16 as a uvarint; a UUID (topic or
//	          incarnation id) as 16 bytes; a string as uvarint length and
//	          bytes; a nullable string or int32 array as uvarint length+1
//	          (0 is null) and its items; an endpoint array as uvarint count
//	          and per endpoint name, host, port, security protocol (int32)
//
// The fields of each record, by api key and version:
//
//	0  RegisterBrokerRecord v0: broker id, incarnation id, broker epoch
//	   (int64), endpoints, rack (nullable string), fenced, in controlled
//	   shutdown; v1 adds the supported features (uvarint count, then per
//	   feature name, min level and max level as int32); v2 adds the broker
//	   epoch of a clean shutdown it registered after (int64)
//	1  UnregisterBrokerRecord v0: broker id, broker epoch
//	2  TopicRecord v0: name, topic id
//	3  PartitionRecord v0: topic id, partition, replicas, ISR, leader,
//	   leader epoch, partition epoch; v1 adds adding and removing replicas;
//	   v2 adds the eligible leader replicas and the last known ones
//	4  ConfigRecord v0: resource type (int8), resource name, name, value
//	   (nullable string)
//	5  PartitionChangeRecord v0: topic id, partition, leader, ISR,
//	   replicas (nullable arrays); v1 adds adding and removing replicas;
//	   v2 adds the eligible leader replicas and the last known ones
//	9  RemoveTopicRecord v0: topic id
//	17 BrokerRegistrationChangeRecord v0: broker id, broker epoch, fenced
//	   (int8: -1 unfence, 0 unchanged, 1 fence), in controlled shutdown;
//	   v1 adds the offline directory ids (uvarint count+1, 0 is null, then
//	   16 bytes each)
//	12 FeatureLevelRecord v0: name, level (an int16 as an int32)
//	15 ProducerIdsRecord v0: broker id, broker epoch (int64), next
//	   producer id (int64)
//	1000 ClusterIDRecord v0 (gregor's own): cluster id (string)
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
)

// recordVersions is the highest version of each record this build reads.
var recordVersions = map[uint16]uint64{
	registerBrokerRecordKey:           2,
	unregisterBrokerRecordKey:         0,
	topicRecordKey:                    0,
	partitionRecordKey:                2,
	configRecordKey:                   0,
	partitionChangeRecordKey:          2,
	removeTopicRecordKey:              0,
	brokerRegistrationChangeRecordKey: 1,
	clusterIDRecordKey:                0,
	producerIdsRecordKey:              0,
	featureLevelRecordKey:             0,
}

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
	dst = binary.AppendUvarint(dst, recordVersion(rec))
	e := encoder{p: dst}
	switch r := rec.(type) {
	case RegisterBrokerRecord:
		e.int32(r.BrokerID)
		e.uuid(r.IncarnationID)
		e.int64(r.BrokerEpoch)
		e.endpoints(r.Endpoints)
		e.nullableString(r.Rack)
		e.bool(r.Fenced)
		e.bool(r.InControlledShutdown)
		if recordVersion(r) >= 1 {
			e.p = binary.AppendUvarint(e.p, uint64(len(r.Features)))
			for _, f := range r.Features {
				e.string(f.Name)
				e.int32(int32(f.MinVersion))
				e.int32(int32(f.MaxVersion))
			}
		}
		if recordVersion(r) >= 2 {
			e.int64(*r.CleanFrom)
		}
	case UnregisterBrokerRecord:
		e.int32(r.BrokerID)
		e.int64(r.BrokerEpoch)
	case BrokerRegistrationChangeRecord:
		e.int32(r.BrokerID)
		e.int64(r.BrokerEpoch)
		e.p = append(e.p, byte(r.Fenced))
		e.bool(r.InControlledShutdown)
		if recordVersion(r) >= 1 {
			e.uuids(r.OfflineDirs)
		}
	case TopicRecord:
		e.string(r.Name)
		e.uuid(r.TopicID)
	case PartitionRecord:
		e.uuid(r.TopicID)
		e.int32(r.Partition)
		e.int32s(r.Replicas)
		e.int32s(r.ISR)
		e.int32(r.Leader)
		e.int32(r.LeaderEpoch)
		e.int32(r.PartitionEpoch)
		if recordVersion(r) >= 1 {
			e.int32s(r.AddingReplicas)
			e.int32s(r.RemovingReplicas)
		}
		if recordVersion(r) >= 2 {
			e.int32s(r.ELR)
			e.int32s(r.LastKnownELR)
		}
	case ConfigRecord:
		e.p = append(e.p, byte(r.ResourceType))
		e.string(r.ResourceName)
		e.string(r.Name)
		e.nullableString(r.Value)
	case PartitionChangeRecord:
		e.uuid(r.TopicID)
		e.int32(r.Partition)
		e.int32(r.Leader)
		e.int32s(r.ISR)
		e.int32s(r.Replicas)
		if recordVersion(r) >= 1 {
			e.int32s(r.AddingReplicas)
			e.int32s(r.RemovingReplicas)
		}
		if recordVersion(r) >= 2 {
			e.int32s(r.ELR)
			e.int32s(r.LastKnownELR)
		}
	case RemoveTopicRecord:
		e.uuid(r.TopicID)
	case ClusterIDRecord:
		e.string(r.ClusterID)
	case ProducerIdsRecord:
		e.int32(r.BrokerID)
		e.int64(r.BrokerEpoch)
		e.int64(r.NextProducerID)
	case FeatureLevelRecord:
		e.string(r.Name)
		e.int32(int32(r.FeatureLevel))
	default:
		panic(fmt.Sprintf("metadata record %T has no encoding", rec))
	}
	return e.p
}

// recordVersion is the lowest version that holds every field rec sets.
func recordVersion(rec MetadataRecord) uint64 {
	switch r := rec.(type) {
	case RegisterBrokerRecord:
		if r.CleanFrom != nil {
			return 2
		}
		if len(r.Features) > 0 {
			return 1
		}
	case BrokerRegistrationChangeRecord:
		if r.OfflineDirs != nil {
			return 1
		}
	case PartitionRecord:
		if r.ELR != nil || r.LastKnownELR != nil {
			return 2
		}
		if r.AddingReplicas != nil || r.RemovingReplicas != nil {
			return 1
		}
	case PartitionChangeRecord:
		if r.ELR != nil || r.LastKnownELR != nil {
			return 2
		}
		if r.AddingReplicas != nil || r.RemovingReplicas != nil {
			return 1
		}
	}
	return 0
}

// DecodeMetadataRecord decodes one record written by AppendMetadataRecord;
// p must hold exactly the record.
func DecodeMetadataRecord(p []byte) (MetadataRecord, error) {
	d := decoder{p: p}
	key, version := d.uvarint(), d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if highest, known := recordVersions[uint16(key)]; !known || key > 1<<16-1 {
		return nil, fmt.Errorf("unknown metadata record type %d", key)
	} else if version > highest {
		return nil, fmt.Errorf("metadata record %d version %d: this build reads versions up to %d", key, version, highest)
	}
	var rec MetadataRecord
	switch uint16(key) {
	case registerBrokerRecordKey:
		r := RegisterBrokerRecord{BrokerID: d.int32(), IncarnationID: d.uuid(), BrokerEpoch: d.varint(),
			Endpoints: d.endpoints(), Rack: d.nullableString(), Fenced: d.bool(), InControlledShutdown: d.bool()}
		if version >= 1 {
			r.Features = d.featureRanges()
		}
		if version >= 2 {
			v := d.varint()
			r.CleanFrom = &v
		}
		rec = r
	case unregisterBrokerRecordKey:
		rec = UnregisterBrokerRecord{BrokerID: d.int32(), BrokerEpoch: d.varint()}
	case brokerRegistrationChangeRecordKey:
		r := BrokerRegistrationChangeRecord{BrokerID: d.int32(), BrokerEpoch: d.varint(), Fenced: BrokerFencingChange(d.int8()), InControlledShutdown: d.bool()}
		if version >= 1 {
			r.OfflineDirs = d.uuids()
		}
		rec = r
	case topicRecordKey:
		rec = TopicRecord{Name: d.string(), TopicID: d.uuid()}
	case partitionRecordKey:
		r := PartitionRecord{TopicID: d.uuid(), Partition: d.int32(), Replicas: d.int32s(), ISR: d.int32s(),
			Leader: d.int32(), LeaderEpoch: d.int32(), PartitionEpoch: d.int32()}
		if version >= 1 {
			r.AddingReplicas, r.RemovingReplicas = d.int32s(), d.int32s()
		}
		if version >= 2 {
			r.ELR, r.LastKnownELR = d.int32s(), d.int32s()
		}
		rec = r
	case configRecordKey:
		rec = ConfigRecord{ResourceType: kmsg.ConfigResourceType(d.int8()), ResourceName: d.string(), Name: d.string(), Value: d.nullableString()}
	case partitionChangeRecordKey:
		r := PartitionChangeRecord{TopicID: d.uuid(), Partition: d.int32(), Leader: d.int32(), ISR: d.int32s(), Replicas: d.int32s()}
		if version >= 1 {
			r.AddingReplicas, r.RemovingReplicas = d.int32s(), d.int32s()
		}
		if version >= 2 {
			r.ELR, r.LastKnownELR = d.int32s(), d.int32s()
		}
		rec = r
	case removeTopicRecordKey:
		rec = RemoveTopicRecord{TopicID: d.uuid()}
	case clusterIDRecordKey:
		rec = ClusterIDRecord{ClusterID: d.string()}
	case producerIdsRecordKey:
		rec = ProducerIdsRecord{BrokerID: d.int32(), BrokerEpoch: d.varint(), NextProducerID: d.varint()}
	case featureLevelRecordKey:
		r := FeatureLevelRecord{Name: d.string()}
		if level := d.int32(); level < -1<<15 || level > 1<<15-1 {
			d.fail(fmt.Errorf("feature level %d does not fit an int16", level))
		} else {
			r.FeatureLevel = int16(level)
		}
		rec = r
	}
	if d.err == nil && len(d.p) > 0 {
		d.fail(fmt.Errorf("%d bytes after metadata record %d", len(d.p), key))
	}
	if d.err != nil {
		return nil, d.err
	}
	if version > 0 && recordVersion(rec) < version {
		// The same record has a shorter encoding; refusing it keeps
		// decode(encode(x)) the identity on whatever decodes.
		return nil, fmt.Errorf("metadata record %d version %d holds nothing that needs it", key, version)
	}
	return rec, nil
}

type encoder struct{ p []byte }

func (e *encoder) int32(v int32)    { e.p = binary.AppendVarint(e.p, int64(v)) }
func (e *encoder) int64(v int64)    { e.p = binary.AppendVarint(e.p, v) }
func (e *encoder) uuid(id [16]byte) { e.p = append(e.p, id[:]...) }
func (e *encoder) string(s string)  { e.p = append(binary.AppendUvarint(e.p, uint64(len(s))), s...) }
func (e *encoder) uint16(v uint16)  { e.p = binary.AppendUvarint(e.p, uint64(v)) }
func (e *encoder) bool(v bool) {
	b := byte(0)
	if v {
		b = 1
	}
	e.p = append(e.p, b)
}

func (e *encoder) endpoints(eps []BrokerEndpoint) {
	e.p = binary.AppendUvarint(e.p, uint64(len(eps)))
	for _, ep := range eps {
		e.string(ep.Name)
		e.string(ep.Host)
		e.uint16(ep.Port)
		e.int32(int32(ep.SecurityProtocol))
	}
}
func (e *encoder) nullableString(s *string) {
	if s == nil {
		e.p = binary.AppendUvarint(e.p, 0)
		return
	}
	e.p = append(binary.AppendUvarint(e.p, uint64(len(*s))+1), *s...)
}

func (e *encoder) uuids(v [][16]byte) {
	if v == nil {
		e.p = binary.AppendUvarint(e.p, 0)
		return
	}
	e.p = binary.AppendUvarint(e.p, uint64(len(v))+1)
	for _, x := range v {
		e.uuid(x)
	}
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

func (d *decoder) uuid() [16]byte {
	var id [16]byte
	copy(id[:], d.bytes(len(id)))
	return id
}

func (d *decoder) bool() bool {
	switch b := d.int8(); b {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail(fmt.Errorf("bool field holds %d", b))
		return false
	}
}

func (d *decoder) uint16() uint16 {
	v := d.uvarint()
	if v > 1<<16-1 {
		d.fail(fmt.Errorf("%d does not fit a uint16", v))
		return 0
	}
	return uint16(v)
}

// endpoints reads an endpoint array; each takes at least four bytes, so its
// count is bounded by what is left.
func (d *decoder) endpoints() []BrokerEndpoint {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]BrokerEndpoint, 0, min(n, len(d.p)/4+1))
	for i := 0; i < n && d.err == nil; i++ {
		ep := BrokerEndpoint{Name: d.string(), Host: d.string(), Port: d.uint16()}
		proto := d.int32()
		if proto < -1<<15 || proto > 1<<15-1 {
			d.fail(fmt.Errorf("security protocol %d does not fit an int16", proto))
		}
		ep.SecurityProtocol = int16(proto)
		out = append(out, ep)
	}
	return out
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
func (d *decoder) uuids() [][16]byte {
	n, null := d.nullableCount()
	if null {
		return nil
	}
	out := make([][16]byte, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.uuid())
	}
	return out
}

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

// featureRanges reads a broker's supported features: count, then name, min
// and max level of each.
func (d *decoder) featureRanges() []FeatureRange {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]FeatureRange, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		f := FeatureRange{Name: d.string()}
		lo, hi := d.int32(), d.int32()
		if lo < -1<<15 || lo > 1<<15-1 || hi < -1<<15 || hi > 1<<15-1 {
			d.fail(fmt.Errorf("feature %s range %d-%d does not fit int16", f.Name, lo, hi))
			return nil
		}
		f.MinVersion, f.MaxVersion = int16(lo), int16(hi)
		out = append(out, f)
	}
	return out
}

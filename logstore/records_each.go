package logstore

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EachRecord decompresses b's record section when it is compressed and
// calls fn with every record's offset and the record, in order. A record
// that does not parse is corruption (ErrCorruption).
func (c *Codecs) EachRecord(b *Batch, fn func(offset int64, r *kmsg.Record)) error {
	data := b.Records
	if codec := b.Attributes & 0x07; codec != 0 {
		var err error
		if data, err = c.decompress(data, kgo.CompressionCodecType(codec)); err != nil {
			return err
		}
	}
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := binary.Varint(data)
		if n <= 0 || length < 0 || int64(len(data)-n) < length {
			return fmt.Errorf("%w: record %d of %d: bad length", ErrCorruption, i, b.NumRecords)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(data[:n+int(length)]); err != nil {
			return fmt.Errorf("%w: record %d of %d: %v", ErrCorruption, i, b.NumRecords, err)
		}
		data = data[n+int(length):]
		fn(b.FirstOffset+int64(rec.OffsetDelta), &rec)
	}
	return nil
}

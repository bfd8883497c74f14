package logstore

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode"

	"gregor/logstore/vfs"
)

// ReplicationOffsetCheckpointFile is the name of the high-watermark
// checkpoint of a log directory (one file for every partition in it), as
// Kafka names it.
const ReplicationOffsetCheckpointFile = "replication-offset-checkpoint"

// maxOffsetCheckpointBytes bounds how much of an offset checkpoint file is
// read: far more than a log directory's partitions need (a line is at most
// about 280 bytes), far less than would exhaust memory.
const maxOffsetCheckpointBytes = 64 << 20

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ReadOffsetCheckpointFile reads an offset checkpoint file in Kafka's format
// (a version line 0, a count line, then "topic partition offset" lines). A
// missing file is an empty map and no error. Content that does not parse, or
// names a partition twice or a topic WriteOffsetCheckpointFile would refuse,
// is reported as ErrCorruption.
func ReadOffsetCheckpointFile(fsys vfs.FS, path string) (map[TopicPartition]int64, error) {
	p, err := ReadWholeFile(fsys, path, maxOffsetCheckpointBytes)
	if errors.Is(err, errNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	entries, err := decodeCheckpointEntries(p, 3)
	if err != nil {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	offsets := make(map[TopicPartition]int64, len(entries))
	for i, e := range entries {
		partition, perr := strconv.ParseInt(e[1], 10, 32)
		offset, oerr := strconv.ParseInt(e[2], 10, 64)
		if perr != nil || oerr != nil || partition < 0 || offset < 0 {
			return nil, fmt.Errorf("read offset checkpoint %s: %w: entry %d %q", path, ErrCorruption, i, e)
		}
		if err := validCheckpointTopic(e[0]); err != nil {
			return nil, fmt.Errorf("read offset checkpoint %s: %w: entry %d: %v", path, ErrCorruption, i, err)
		}
		tp := TopicPartition{Topic: e[0], Partition: int32(partition)}
		if _, dup := offsets[tp]; dup {
			return nil, fmt.Errorf("read offset checkpoint %s: %w: %s-%d appears twice", path, ErrCorruption, tp.Topic, tp.Partition)
		}
		offsets[tp] = offset
	}
	return offsets, nil
}

// WriteOffsetCheckpointFile replaces path with offsets in Kafka's format,
// sorted by topic and partition, atomically (a crash leaves the old file or
// the new one). A topic that is empty or holds a space or control character
// (no Kafka topic name does), a negative partition or a negative offset is
// refused and nothing is written.
func WriteOffsetCheckpointFile(fsys vfs.FS, path string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp, offset := range offsets {
		if err := validCheckpointTopic(tp.Topic); err != nil {
			return fmt.Errorf("write offset checkpoint %s: %w", path, err)
		}
		if tp.Partition < 0 || offset < 0 {
			return fmt.Errorf("write offset checkpoint %s: %s-%d at offset %d: negative partition or offset", path, tp.Topic, tp.Partition, offset)
		}
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	entries := make([][]string, len(tps))
	for i, tp := range tps {
		entries[i] = []string{tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(offsets[tp], 10)}
	}
	if err := writeFileAtomic(fsys, path, encodeCheckpointEntries(entries)); err != nil {
		return fmt.Errorf("write offset checkpoint: %w", err)
	}
	return nil
}

// validCheckpointTopic refuses topic names the space-separated format cannot
// carry.
func validCheckpointTopic(topic string) error {
	if topic == "" {
		return errors.New("empty topic name")
	}
	for _, r := range topic {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("topic name %q holds a space or control character", topic)
		}
	}
	return nil
}

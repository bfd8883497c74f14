package actors

// TEMPORARY SHIM (Part P of issue 7): Part L's logstore offers these names
// (logstore.ReplicationOffsetCheckpointFile, logstore.TopicPartition,
// logstore.ReadOffsetCheckpointFile, logstore.WriteOffsetCheckpointFile) but
// they are not on main yet. At merge, delete this file and qualify the four
// names with logstore. in hw_checkpoint*.go and partition_storage.go.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"

	"gregor/logstore/vfs"
)

// ReplicationOffsetCheckpointFile is the name of a log directory's high
// watermark checkpoint, as Kafka names it. TEMPORARY: see the file comment.
const ReplicationOffsetCheckpointFile = "replication-offset-checkpoint"

// TopicPartition names a partition. TEMPORARY: see the file comment.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ReadOffsetCheckpointFile reads an offset checkpoint in Kafka's format (a
// version line 0, a count line, then "topic partition offset" lines); a
// missing file is an empty map. TEMPORARY: see the file comment.
func ReadOffsetCheckpointFile(fsys vfs.FS, path string) (map[TopicPartition]int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	p := make([]byte, size)
	if _, err := f.ReadAt(p, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read offset checkpoint %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(p), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("read offset checkpoint %s: no version 0 header", path)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("read offset checkpoint %s: count %q for %d entries", path, lines[1], len(lines)-2)
	}
	offsets := make(map[TopicPartition]int64, n)
	for _, line := range lines[2:] {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("read offset checkpoint %s: entry %q", path, line)
		}
		partition, perr := strconv.ParseInt(fields[1], 10, 32)
		offset, oerr := strconv.ParseInt(fields[2], 10, 64)
		if perr != nil || oerr != nil {
			return nil, fmt.Errorf("read offset checkpoint %s: entry %q", path, line)
		}
		offsets[TopicPartition{Topic: fields[0], Partition: int32(partition)}] = offset
	}
	return offsets, nil
}

// WriteOffsetCheckpointFile replaces path with offsets in Kafka's format,
// sorted, atomically. TEMPORARY: see the file comment.
func WriteOffsetCheckpointFile(fsys vfs.FS, path string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b strings.Builder
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	if err := vfs.WriteFileAtomic(fsys, path, []byte(b.String())); err != nil {
		return fmt.Errorf("write offset checkpoint %s: %w", path, err)
	}
	return nil
}

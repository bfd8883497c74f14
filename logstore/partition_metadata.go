package logstore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"gregor/logstore/vfs"
)

// PartitionMetadataFile is the file in a partition directory that records
// the id of the topic whose log the directory holds, in Kafka's format:
//
//	version: 0
//	topic_id: <the id in URL-safe base64, unpadded>
//
// A directory's name says only the topic's name; a topic deleted and
// created again under it has another id, so a node that finds the old
// topic's directory under the new topic's name can tell it apart.
const PartitionMetadataFile = "partition.metadata"

// partitionMetadataVersion is the version this build writes; like Kafka, a
// reader takes any version from it up (a later build's file still names
// the topic on its second line).
const partitionMetadataVersion = 0

// maxPartitionMetadataBytes bounds how much of the file is read: the
// version line and a 22-character id take 40 bytes.
const maxPartitionMetadataBytes = 512

// ErrInconsistentTopicID says a partition directory records another topic's
// id than the one a log was opened for: its records are not that topic's.
var ErrInconsistentTopicID = errors.New("inconsistent topic id")

// ErrPartitionMetadata marks a partition.metadata file that cannot be read
// as one (damaged, or not Kafka's format): the directory's topic is not
// known, and a log is not opened on it, as Kafka takes the log directory
// offline when it cannot read the file.
var ErrPartitionMetadata = errors.New("unreadable partition.metadata")

// EncodePartitionMetadata renders the file for topicID, as Kafka writes it
// (no newline after the id).
func EncodePartitionMetadata(topicID [16]byte) []byte {
	return fmt.Appendf(nil, "version: %d\ntopic_id: %s", partitionMetadataVersion, base64.RawURLEncoding.EncodeToString(topicID[:]))
}

// DecodePartitionMetadata reads what EncodePartitionMetadata renders, as
// Kafka reads it: a "version: N" line (N at least 0), then a "topic_id:
// ID" line with a 16-byte id that is not all zeros; what follows is
// ignored. Anything else is ErrPartitionMetadata.
func DecodePartitionMetadata(p []byte) ([16]byte, error) {
	var id [16]byte
	lines := strings.SplitN(string(p), "\n", 3)
	v, ok := partitionMetadataField(lines, 0, "version")
	if !ok {
		return id, fmt.Errorf("%w: no version line", ErrPartitionMetadata)
	}
	if n, err := strconv.Atoi(v); err != nil || n < partitionMetadataVersion {
		return id, fmt.Errorf("%w: version %q", ErrPartitionMetadata, v)
	}
	s, ok := partitionMetadataField(lines, 1, "topic_id")
	if !ok {
		return id, fmt.Errorf("%w: no topic_id line", ErrPartitionMetadata)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: topic_id %q is not a 16-byte id in base64", ErrPartitionMetadata, s)
	}
	copy(id[:], b)
	if id == ([16]byte{}) {
		return id, fmt.Errorf("%w: topic_id is the zero id", ErrPartitionMetadata)
	}
	return id, nil
}

// partitionMetadataField is the value of line i when it reads "key: value"
// (one or more spaces after the colon, as Kafka splits it).
func partitionMetadataField(lines []string, i int, key string) (string, bool) {
	if i >= len(lines) {
		return "", false
	}
	k, v, ok := strings.Cut(strings.TrimSuffix(lines[i], "\r"), ":")
	if !ok || k != key || len(v) < 2 || (v[0] != ' ' && v[0] != '\t') {
		return "", false
	}
	v = strings.TrimLeft(v, " \t")
	return v, v != ""
}

// ReadPartitionMetadata reads the topic id recorded in the partition
// directory dir. ok is false when the directory records none (no file: a
// new directory, or one written by a build that kept none); a file that
// cannot be decoded is an error wrapping ErrPartitionMetadata, one the
// disk fails to read an error of its own.
func ReadPartitionMetadata(fsys vfs.FS, dir string) (topicID [16]byte, ok bool, err error) {
	name := path.Join(dir, PartitionMetadataFile)
	p, err := ReadWholeFile(fsys, name, maxPartitionMetadataBytes)
	switch {
	case errors.Is(err, errNotExist):
		return topicID, false, nil
	case errors.Is(err, ErrCorruption):
		return topicID, false, fmt.Errorf("%w: %w", ErrPartitionMetadata, err)
	case err != nil:
		return topicID, false, fmt.Errorf("read %s: %w", name, err)
	}
	topicID, err = DecodePartitionMetadata(p)
	if err != nil {
		return topicID, false, fmt.Errorf("%s: %w", name, err)
	}
	return topicID, true, nil
}

// WritePartitionMetadata records topicID in the partition directory dir,
// durably (temporary file, fsync, rename, directory fsync).
func WritePartitionMetadata(fsys vfs.FS, dir string, topicID [16]byte) error {
	return writeFileAtomic(fsys, path.Join(dir, PartitionMetadataFile), EncodePartitionMetadata(topicID))
}

// claimTopicID makes sure the directory is topicID's: it records the id
// where no file records one (a new log, or one an older build wrote), and
// refuses a directory that records another (ErrInconsistentTopicID) or
// whose file is damaged (ErrPartitionMetadata).
func (l *Log) claimTopicID(topicID [16]byte) error {
	if l.isNew {
		return l.recordNewTopicID(topicID)
	}
	recorded, ok, err := ReadPartitionMetadata(l.fs, l.dir)
	switch {
	case err != nil:
		return err
	case !ok:
		if err := WritePartitionMetadata(l.fs, l.dir, topicID); err != nil {
			return fmt.Errorf("record topic id: %w", err)
		}
		return nil
	case recorded != topicID:
		return fmt.Errorf("%w: the directory holds the log of topic id %s, not of %s", ErrInconsistentTopicID,
			base64.RawURLEncoding.EncodeToString(recorded[:]), base64.RawURLEncoding.EncodeToString(topicID[:]))
	}
	return nil
}

// recordNewTopicID records the id in a directory Open just made: the file
// is synced and renamed into place, and the directory's sync that makes
// the new log's first segment durable (createSegment, before Open returns
// and so before any append) makes its name durable too, one fsync fewer
// per new partition. A crash before that leaves a directory with no
// records, whose next open records the id again.
func (l *Log) recordNewTopicID(topicID [16]byte) error {
	if err := vfs.ReplaceFile(l.fs, path.Join(l.dir, PartitionMetadataFile), EncodePartitionMetadata(topicID)); err != nil {
		return fmt.Errorf("record topic id: %w", err)
	}
	return nil
}

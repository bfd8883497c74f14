package logstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"gregor/logstore/vfs"
)

// Files in the partition directory besides segments.
const (
	recoveryPointCheckpointFile  = "recovery-point-offset-checkpoint"
	logStartOffsetCheckpointFile = "log-start-offset-checkpoint"
	cleanShutdownFile            = ".kafka_cleanshutdown"
	tmpFileExt                   = vfs.TempSuffix
	osCreateFlags                = os.O_CREATE | os.O_RDWR
	checkpointVersion            = 0
	// maxCheckpointBytes bounds how much of a checkpoint file is read.
	maxCheckpointBytes = 64
)

// RecoveryPointCheckpointFile is the name of the recovery-point checkpoint in
// a partition directory: the offset below which every record was synced, past
// which recovery after a crash rescans (every segment without it). The
// simulator removes and damages it.
const RecoveryPointCheckpointFile = recoveryPointCheckpointFile

// writeFileAtomic is vfs.WriteFileAtomic: temporary file, fsync, rename,
// directory fsync.
func writeFileAtomic(fsys vfs.FS, name string, data []byte) error {
	return vfs.WriteFileAtomic(fsys, name, data)
}

// ReadWholeFile reads the whole of name, a small file: one longer than
// limitBytes is corruption (ErrCorruption), as no file of ours grows that
// long.
func ReadWholeFile(fsys vfs.FS, name string, limitBytes int64) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", name, err)
	}
	if size > limitBytes {
		return nil, fmt.Errorf("%w: %s has %d bytes, more than the %d expected", ErrCorruption, name, size, limitBytes)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return buf, nil
}

// encodeCheckpoint renders an offset checkpoint: a version line and the
// offset, each newline-terminated, so a torn file is recognisable.
func encodeCheckpoint(offset int64) []byte {
	return fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, offset)
}

func decodeCheckpoint(p []byte) (int64, error) {
	lines := strings.Split(string(p), "\n")
	if len(lines) != 3 || lines[2] != "" || lines[0] != strconv.Itoa(checkpointVersion) {
		return 0, fmt.Errorf("%w: checkpoint %q is malformed", ErrCorruption, p)
	}
	offset, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || offset < 0 {
		return 0, fmt.Errorf("%w: checkpoint offset %q", ErrCorruption, lines[1])
	}
	return offset, nil
}

// readCheckpoint returns the offset in dir/name; ok is false when the file is
// missing or damaged (the caller falls back to a safe default). A file the
// disk fails to read (EIO) is an error: Open fails and the replica stays
// offline until a later try, instead of loading the log without what the
// checkpoint says (seen: a log recovered from offset 0 for want of its
// recovery point, under a disk failing 30% of its operations, dropped
// segments it held whole).
func (l *Log) readCheckpoint(name string) (offset int64, ok bool, err error) {
	full := path.Join(l.dir, name)
	p, err := ReadWholeFile(l.fs, full, maxCheckpointBytes)
	if err == nil {
		offset, err = decodeCheckpoint(p)
	}
	switch {
	case err == nil:
		return offset, true, nil
	case errors.Is(err, errNotExist):
		return 0, false, nil
	case errors.Is(err, ErrCorruption):
		l.logger.Warn("ignoring bad checkpoint", zap.String("file", full), zap.Error(err))
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("read checkpoint %s: %w", full, err)
}

func (l *Log) writeCheckpoint(name string, offset int64) error {
	return writeFileAtomic(l.fs, path.Join(l.dir, name), encodeCheckpoint(offset))
}

// encodeCheckpointEntries renders Kafka's multi-entry checkpoint format: the
// version line 0, a line with the number of entries, then one line per entry
// (fields joined by single spaces), each newline-terminated.
func encodeCheckpointEntries(entries [][]string) []byte {
	p := fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, len(entries))
	for _, fields := range entries {
		p = append(p, strings.Join(fields, " ")...)
		p = append(p, '\n')
	}
	return p
}

// decodeCheckpointEntries parses what encodeCheckpointEntries renders, each
// entry having exactly fieldsPerEntry whitespace-separated fields. Anything
// else (another version, a count that does not match, a missing final
// newline, as a torn file has) is ErrCorruption.
func decodeCheckpointEntries(p []byte, fieldsPerEntry int) ([][]string, error) {
	text, ok := strings.CutSuffix(string(p), "\n")
	if !ok {
		return nil, fmt.Errorf("%w: checkpoint of %d bytes does not end with a newline", ErrCorruption, len(p))
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("%w: checkpoint does not start with version %d and a count", ErrCorruption, checkpointVersion)
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count != len(lines)-2 {
		return nil, fmt.Errorf("%w: checkpoint count line %q, %d entry lines follow", ErrCorruption, lines[1], len(lines)-2)
	}
	entries := make([][]string, 0, count)
	for i, line := range lines[2:] {
		fields := strings.Fields(line)
		if len(fields) != fieldsPerEntry {
			return nil, fmt.Errorf("%w: checkpoint entry %d %q has %d fields, want %d", ErrCorruption, i, line, len(fields), fieldsPerEntry)
		}
		entries = append(entries, fields)
	}
	return entries, nil
}

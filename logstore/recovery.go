package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"gregor/logstore/vfs"
)

// recoveryReadBytes is how much recovery reads from a segment per call.
const recoveryReadBytes = 1 << 20

// Open opens the log in opts.Dir, creating the directory if needed, and
// recovers it: after a clean shutdown it trusts the indexes; otherwise it
// rescans every segment past the recovery-point checkpoint (every segment
// without one), validating each batch (length, CRC-32C, increasing offsets),
// truncates at the first invalid one, drops the segments after it (and after
// a segment whose index proves it lost its tail; not after a gap compaction
// may have left: loadSegments) and rebuilds missing or corrupt indexes.
// The leader-epoch cache is loaded from its checkpoint (or rebuilt from batch
// headers without one) and fitted to the recovered log (leader_epoch.go).
func Open(opts Options) (*Log, error) {
	cfg, err := opts.Config.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", opts.Dir, err)
	}
	l := &Log{fs: opts.FS, dir: opts.Dir, cfg: cfg, cache: opts.Cache, blocks: opts.BlockPool, holdBudget: opts.HoldBudget, rawWrites: opts.RawWrites, logger: opts.Logger, blockBytes: cfg.CacheBlockBytes, codecs: NewCodecs()}
	l.tailAllowed = l.cache != nil
	if l.cache == nil {
		l.cache = &noCache{}
	}
	if l.logger == nil {
		l.logger = zap.NewNop()
	}
	l.logger = l.logger.With(zap.String("dir", opts.Dir))
	l.lastFlushMs, l.lastCheckpointMs = opts.NowMs, opts.NowMs
	err = l.recover(opts.NowMs, opts.TopicID)
	if err == nil {
		err = l.loadProducerState()
	}
	if err != nil {
		for _, s := range l.segments {
			s.release()
		}
		return nil, fmt.Errorf("open log %s: %w", opts.Dir, err)
	}
	return l, nil
}

// recover loads the directory into l.
func (l *Log) recover(nowMs int64, topicID [16]byte) error {
	// A new log (its directory made here) needs no empty checkpoints: a
	// missing one reads as empty (finishEpochRecovery, finishRecovery).
	_, statErr := l.fs.Stat(l.dir)
	l.isNew = errors.Is(statErr, fs.ErrNotExist)
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	// Before anything in the directory is read or changed: another
	// topic's log is not loaded (let alone truncated) as this one's.
	if topicID != ([16]byte{}) {
		if err := l.claimTopicID(topicID); err != nil {
			return err
		}
	}
	// Make the directory's own entry durable, in case MkdirAll created it.
	if err := l.fs.SyncDir(path.Dir(l.dir)); err != nil {
		return fmt.Errorf("sync parent directory: %w", err)
	}
	bases, clean, err := l.listSegments()
	if err != nil {
		return err
	}
	recoveryPoint, haveRecoveryPoint, err := l.readCheckpoint(recoveryPointCheckpointFile)
	if err != nil {
		return err
	}
	logStart, haveLogStart, err := l.readCheckpoint(logStartOffsetCheckpointFile)
	if err != nil {
		return err
	}
	haveEpochs, err := l.loadEpochCheckpoint()
	if err != nil {
		return err
	}
	loadedEpochs := l.epochs
	var onBatch func(b *Batch)
	if haveEpochs {
		// The batches past the recovery point may start epochs the
		// checkpoint lacks; those wholly below the log start offset are
		// gone for readers and say nothing.
		onBatch = func(b *Batch) {
			if b.LastOffset() >= logStart {
				l.epochs = recoveryAssign(l.epochs, b.PartitionLeaderEpoch, b.FirstOffset)
			}
		}
	}
	if err := l.loadSegments(bases, clean, recoveryPoint, nowMs, onBatch); err != nil {
		return err
	}
	if !haveEpochs {
		if err := l.rebuildEpochs(logStart); err != nil {
			return err
		}
	}
	if len(l.segments) == 0 {
		seg, err := l.createSegment(logStart, nowMs)
		if err != nil {
			return err
		}
		l.segments = []*segment{seg}
	}
	l.logEndOffset = l.active().nextOffset
	l.logStartOffset = l.segments[0].baseOffset
	if haveLogStart && logStart > l.logStartOffset {
		l.logStartOffset = logStart
	}
	if l.logStartOffset > l.logEndOffset {
		// Records below the checkpointed log start offset were deleted, and
		// the unflushed ones above it were lost: start empty there, so
		// offsets never go back.
		l.logger.Warn("log end offset below log start offset, starting empty",
			zap.Int64("log_start_offset", l.logStartOffset), zap.Int64("log_end_offset", l.logEndOffset))
		if err := l.TruncateFullyAndStartAt(l.logStartOffset, nowMs); err != nil {
			return err
		}
	}
	if err := l.finishEpochRecovery(loadedEpochs, haveEpochs); err != nil {
		return err
	}
	if err := l.loadTail(l.active()); err != nil {
		return err
	}
	if err := l.loadCleanerCheckpoint(); err != nil {
		return err
	}
	return l.finishRecovery(clean, recoveryPoint, haveRecoveryPoint)
}

// finishRecovery makes the recovered state durable: after an unclean
// shutdown it syncs everything and checkpoints the recovery point; after a
// clean one it removes the marker, so a crash from now on rescans. The
// recovery-point checkpoint is written only when it changes: not when its
// file (read above, written durably by writeFileAtomic) holds the recovery
// point already, as after a clean shutdown, nor for a new log, whose
// missing checkpoint reads as its recovery point, 0.
func (l *Log) finishRecovery(clean bool, recoveryPoint int64, haveRecoveryPoint bool) error {
	l.flushedOffset = min(recoveryPoint, l.logEndOffset)
	if clean {
		l.flushedOffset = l.logEndOffset
		if err := l.fs.Remove(path.Join(l.dir, cleanShutdownFile)); err != nil {
			return fmt.Errorf("remove clean shutdown marker: %w", err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync directory after removing the clean shutdown marker: %w", err)
		}
	} else if err := l.Sync(); err != nil {
		return err
	}
	l.checkpointedRecoveryPt = l.flushedOffset
	if (haveRecoveryPoint && recoveryPoint == l.flushedOffset) || (l.isNew && l.flushedOffset == 0) {
		return nil
	}
	return l.writeCheckpoint(recoveryPointCheckpointFile, l.flushedOffset)
}

// listSegments returns the base offsets of the .log files, sorted, removes
// leftovers (temporary files, deleted segments, indexes without a log) and
// reports whether the clean shutdown marker exists.
func (l *Log) listSegments() (bases []int64, clean bool, err error) {
	names, err := l.fs.ReadDir(l.dir)
	if err == nil {
		err = l.recoverSwaps(names)
	}
	if err == nil {
		names, err = l.fs.ReadDir(l.dir)
	}
	if err != nil {
		return nil, false, fmt.Errorf("list directory: %w", err)
	}
	logs := make(map[string]bool)
	for _, name := range names {
		if base, ok := parseSegmentFileName(name, logFileExt); ok {
			bases = append(bases, base)
			logs[strings.TrimSuffix(name, logFileExt)] = true
		}
	}
	for _, name := range names {
		stem, isIndex := strings.CutSuffix(name, indexFileExt)
		if !isIndex {
			stem, isIndex = strings.CutSuffix(name, timeIndexFileExt)
		}
		if !isIndex {
			// An aborted-transaction index without its segment (one
			// recovery dropped) would name markers that are gone to a
			// segment later made at the same base offset.
			stem, isIndex = strings.CutSuffix(name, txnIndexFileExt)
		}
		orphan := isIndex && !logs[stem]
		leftover := strings.HasSuffix(name, tmpFileExt) || strings.HasSuffix(name, deletedFileExt) || strings.HasSuffix(name, cleanedFileExt)
		if orphan || leftover {
			if err := l.fs.Remove(path.Join(l.dir, name)); err != nil {
				return nil, false, fmt.Errorf("remove leftover %s: %w", name, err)
			}
		}
		if name == cleanShutdownFile {
			clean = true
		}
	}
	return bases, clean, nil
}

// parseSegmentFileName parses "<20 digits><ext>".
func parseSegmentFileName(name, ext string) (int64, bool) {
	stem, ok := strings.CutSuffix(name, ext)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	return base, err == nil && base >= 0
}

// loadSegments opens each segment and recovers or trusts it. onBatch (if
// not nil) sees every batch scanned, in log order.
//
// A scanned segment that ends before the next one's base offset is either
// one compaction emptied at its end or one that lost its unsynced tail in a
// crash, and recovery deletes data only on proof of the second:
//
//   - Invalid bytes (a torn or damaged batch) prove that records there are
//     gone: the segment is truncated at them and every later segment is
//     deleted.
//   - A gap proves a loss only when the segment's index files name a batch
//     inside it. A roll writes and syncs them, ending with an entry for the
//     segment's last batch, before the next segment exists; so a segment
//     that lost its last batch after a roll says so, whatever the
//     checkpoints say. The cleaner only swaps in a segment it synced, whose
//     index names only batches it kept, and recovery of an interrupted swap
//     leaves no index at all. Then too every later segment is deleted.
//   - Any other gap is kept, as compaction makes them and as Kafka's log
//     recovery keeps them: a gap alone does not tell them apart once the
//     recovery-point checkpoint is missing or damaged (every segment is
//     scanned then), and a follower that copied a compacted leader and was
//     truncated into a gap rolls there too. Deleting would lose whole
//     segments of acknowledged, synced records of a compacted topic.
//
// Why deleting is right after a proven loss: a replica's log must hold
// every record below its log end offset. Its records past a lost one were
// never covered by a completed Sync (Sync fsyncs segments in log order, so
// a later segment's fsync follows the earlier one's), so no flush policy
// promised them; kept, they would leave a hole below the log end offset
// that leader-epoch truncation never looks into and fetching never fills,
// and that would lose records cluster-wide should this replica lead.
// Deleted, the log ends at its last intact record and replication fetches
// the rest again.
func (l *Log) loadSegments(bases []int64, clean bool, recoveryPoint int64, nowMs int64, onBatch func(b *Batch)) error {
	for i, base := range bases {
		seg := l.newSegment(base, nowMs)
		f, err := l.fs.OpenFile(seg.logPath(), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open segment %s: %w", seg.logPath(), err)
		}
		seg.logFile = f
		l.segments = append(l.segments, seg)
		last := i == len(bases)-1
		// A crash may have left blocks reserved past the active segment's
		// end (prealloc.go); the others gave theirs back when they rolled.
		seg.preallocUnknown = last
		if !last {
			seg.nextOffset = bases[i+1]
		}
		trusted := clean || (!last && bases[i+1] <= recoveryPoint)
		truncated, err := l.loadSegment(seg, last, trusted, onBatch)
		if err != nil {
			return err
		}
		if truncated && !last {
			return l.dropSegmentsFrom(bases[i+1:])
		}
		if !last && !trusted && seg.nextOffset < bases[i+1] {
			lost, found, err := l.indexedOffsetInGap(seg.baseOffset, seg.nextOffset, bases[i+1])
			if err != nil {
				return err
			}
			if found {
				l.logger.Warn("segment lost its tail: its index names a batch past its end, dropping the later segments",
					zap.String("file", seg.logPath()), zap.Int64("next_offset", seg.nextOffset),
					zap.Int64("indexed_offset", lost), zap.Int64("next_base_offset", bases[i+1]))
				return l.dropSegmentsFrom(bases[i+1:])
			}
			l.logger.Info("segment ends before the next one starts, keeping the gap (compaction leaves them)",
				zap.String("file", seg.logPath()), zap.Int64("next_offset", seg.nextOffset), zap.Int64("next_base_offset", bases[i+1]))
		}
		if !last && seg.nextOffset > bases[i+1] {
			return fmt.Errorf("%w: segment %s holds offsets up to %d, past the next segment's base %d",
				ErrCorruption, seg.logPath(), seg.nextOffset-1, bases[i+1])
		}
		if !last {
			// A compacted segment may end below the next base offset.
			seg.nextOffset = bases[i+1]
		}
	}
	return nil
}

// indexedOffsetInGap looks for proof that the segment at base lost a tail:
// an offset in [end, nextBase) that the last entry of its .index or
// .timeindex file on disk names as a batch's. An entry naming an offset at
// or past nextBase cannot come from a roll (the next segment starts at the
// log end offset) and proves nothing. A missing or malformed file proves
// nothing; a file the disk fails to read is an error, so that Open fails
// (and is tried again) rather than decide without it.
func (l *Log) indexedOffsetInGap(base, end, nextBase int64) (offset int64, found bool, err error) {
	for _, file := range []struct {
		ext        string
		entryBytes int64
		relAt      int
	}{{indexFileExt, offsetIndexEntryBytes, 0}, {timeIndexFileExt, timeIndexEntryBytes, 8}} {
		entry, err := readLastEntry(l.fs, path.Join(l.dir, segmentFileName(base, file.ext)), file.entryBytes)
		if err != nil {
			return 0, false, err
		}
		if entry == nil {
			continue
		}
		named := base + int64(binary.BigEndian.Uint32(entry[file.relAt:]))
		if named >= end && named < nextBase {
			return named, true, nil
		}
	}
	return 0, false, nil
}

// readLastEntry returns the last entryBytes of name, or nil if the file is
// missing, empty or not a whole number of entries.
func readLastEntry(fsys vfs.FS, name string, entryBytes int64) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, errNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", name, err)
	}
	if size == 0 || size%entryBytes != 0 {
		return nil, nil
	}
	entry := make([]byte, entryBytes)
	if _, err := f.ReadAt(entry, size-entryBytes); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return entry, nil
}

// loadSegment loads one segment. A trusted segment (below the recovery
// point, or after a clean shutdown) keeps its index files if they are sane;
// otherwise, or when they are not, the segment is scanned and its indexes
// rebuilt. It reports whether the scan truncated invalid bytes. onBatch is
// scanSegment's.
func (l *Log) loadSegment(seg *segment, last, trusted bool, onBatch func(b *Batch)) (truncated bool, err error) {
	size, err := seg.logFile.Size()
	if err != nil {
		return false, fmt.Errorf("size of segment %s: %w", seg.logPath(), err)
	}
	if size > math.MaxInt32 {
		l.logger.Warn("segment larger than 2 GiB, truncating", zap.String("file", seg.logPath()), zap.Int64("size_bytes", size))
		size = math.MaxInt32
	}
	if trusted {
		err := l.loadIndexFiles(seg, size, last)
		if err == nil && !last {
			seg.sizeBytes = size
			return false, nil
		}
		if err == nil {
			return l.resumeScan(seg, size, onBatch)
		}
		l.logger.Warn("rebuilding index", zap.String("file", seg.logPath()), zap.Error(err))
	}
	seg.index, seg.timeIndex, seg.lastBatchKnown = nil, nil, false
	seg.maxTimestampMs, seg.offsetOfMaxTimestamp = -1, -1
	seg.bytesSinceIndex = 0
	seg.nextOffset = seg.baseOffset
	return l.scanSegment(seg, 0, size, onBatch)
}

// resumeScan scans a trusted active segment from its last index entry, to
// find its end.
func (l *Log) resumeScan(seg *segment, size int64, onBatch func(b *Batch)) (bool, error) {
	from := int64(0)
	if n := len(seg.index); n > 0 {
		e := seg.index[n-1]
		seg.index = seg.index[:n-1]
		from = int64(e.position)
		seg.nextOffset = seg.baseOffset + int64(e.relOffset)
		seg.bytesSinceIndex = l.cfg.IndexIntervalBytes
	} else {
		seg.nextOffset = seg.baseOffset
	}
	return l.scanSegment(seg, from, size, onBatch)
}

// loadIndexFiles reads seg's .index and .timeindex and checks them against the
// .log: the last index entry must point at the batch it names. For a
// non-active segment nextOffset is already known; for the active one it is
// found later by scanning from the last entry.
func (l *Log) loadIndexFiles(seg *segment, size int64, last bool) error {
	dir := seg.dir
	p, err := ReadWholeFile(l.fs, path.Join(dir, segmentFileName(seg.baseOffset, indexFileExt)), size/BatchHeaderBytes*offsetIndexEntryBytes+offsetIndexEntryBytes)
	if err != nil {
		return err
	}
	if seg.index, err = decodeOffsetIndex(p, size); err != nil {
		return err
	}
	p, err = ReadWholeFile(l.fs, path.Join(dir, segmentFileName(seg.baseOffset, timeIndexFileExt)), size/BatchHeaderBytes*timeIndexEntryBytes+timeIndexEntryBytes)
	if err != nil {
		return err
	}
	maxRel := uint32(math.MaxUint32)
	if !last {
		maxRel = uint32(seg.nextOffset - seg.baseOffset - 1)
	}
	if seg.timeIndex, err = decodeTimeIndex(p, maxRel); err != nil {
		return err
	}
	if n := len(seg.timeIndex); n > 0 {
		seg.maxTimestampMs = seg.timeIndex[n-1].timestampMs
		seg.offsetOfMaxTimestamp = seg.baseOffset + int64(seg.timeIndex[n-1].relOffset)
	} else if size > 0 && !last {
		return fmt.Errorf("%w: empty time index for a segment of %d bytes", ErrCorruption, size)
	}
	if n := len(seg.index); n > 0 {
		e := seg.index[n-1]
		var buf [BatchHeaderBytes]byte
		if _, err := seg.logFile.ReadAt(buf[:], int64(e.position)); err != nil {
			return fmt.Errorf("check last index entry: %w", err)
		}
		h, err := parseBatchHeader(buf[:])
		if err != nil || h.baseOffset != seg.baseOffset+int64(e.relOffset) {
			return fmt.Errorf("%w: last index entry %d@%d does not match the log", ErrCorruption, e.relOffset, e.position)
		}
	}
	return nil
}

// scanSegment validates and indexes the batches from pos to size, continuing
// seg's state (nextOffset is the lowest acceptable base offset). At the first
// invalid batch it truncates the file there and reports true. onBatch, if not
// nil, sees each valid batch.
func (l *Log) scanSegment(seg *segment, pos, size int64, onBatch func(b *Batch)) (truncated bool, err error) {
	r := segmentScanner{file: seg, size: size}
	for pos < size {
		b, problem, err := r.batchAt(pos)
		if err != nil {
			return false, err
		}
		if problem == nil && b.FirstOffset < seg.nextOffset {
			problem = fmt.Errorf("%w: base offset %d not above the previous batch's last offset %d", ErrCorruption, b.FirstOffset, seg.nextOffset-1)
		}
		if problem == nil && b.LastOffset()-seg.baseOffset > math.MaxUint32 {
			problem = fmt.Errorf("%w: offset %d too far from the segment base", ErrCorruption, b.LastOffset())
		}
		if problem != nil {
			l.logger.Warn("truncating segment at invalid batch", zap.String("file", seg.logPath()),
				zap.Int64("position", pos), zap.Int64("size_bytes", size), zap.Error(problem))
			if err := truncateDurably(seg, pos); err != nil {
				return false, err
			}
			seg.sizeBytes = pos
			return true, nil
		}
		if onBatch != nil {
			onBatch(&b)
		}
		l.indexBatch(seg, batchHeader{baseOffset: b.FirstOffset, sizeBytes: int64(len(b.Raw)),
			lastOffsetDelta: b.LastOffsetDelta, maxTimestampMs: b.MaxTimestamp}, pos)
		pos += int64(len(b.Raw))
		seg.nextOffset = b.NextOffset()
	}
	seg.sizeBytes = pos
	return false, nil
}

// segmentScanner reads batches sequentially through a bounded buffer.
type segmentScanner struct {
	file     *segment
	size     int64
	buf      []byte
	bufStart int64
}

// batchAt returns the validated batch at pos, or a problem (why the bytes
// there are not a valid batch), or an I/O error.
func (r *segmentScanner) batchAt(pos int64) (b Batch, problem, ioErr error) {
	if r.size-pos < batchLengthOverhead {
		return Batch{}, fmt.Errorf("%w: %d trailing bytes, too short for a batch", ErrCorruption, r.size-pos), nil
	}
	head, err := r.bytes(pos, batchLengthOverhead)
	if err != nil {
		return Batch{}, nil, err
	}
	n, err := BatchSize(head)
	if err != nil {
		return Batch{}, err, nil
	}
	if int64(n) > r.size-pos {
		return Batch{}, fmt.Errorf("%w: batch of %d bytes but only %d left (torn write)", ErrCorruption, n, r.size-pos), nil
	}
	raw, err := r.bytes(pos, int64(n))
	if err != nil {
		return Batch{}, nil, err
	}
	b, err = ParseBatch(raw)
	return b, err, nil
}

// bytes returns n bytes at pos, refilling the buffer when needed.
func (r *segmentScanner) bytes(pos, n int64) ([]byte, error) {
	if pos >= r.bufStart && pos+n <= r.bufStart+int64(len(r.buf)) {
		return r.buf[pos-r.bufStart : pos-r.bufStart+n], nil
	}
	want := min(max(n, recoveryReadBytes), r.size-pos)
	if int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	r.bufStart = pos
	if _, err := r.file.logFile.ReadAt(r.buf, pos); err != nil && !errors.Is(err, io.EOF) {
		r.buf = r.buf[:0]
		return nil, fmt.Errorf("segment %s: read at position %d: %w", r.file.logPath(), pos, err)
	}
	return r.buf[:n], nil
}

// dropSegmentsFrom deletes the files of segments found after one that lost
// records (a torn batch, or a tail its index names): nothing after a lost
// record survives.
func (l *Log) dropSegmentsFrom(bases []int64) error {
	for _, base := range bases {
		l.logger.Warn("deleting segment after one that lost records", zap.Int64("base_offset", base))
		for _, ext := range []string{logFileExt, indexFileExt, timeIndexFileExt, txnIndexFileExt} {
			if err := l.fs.Remove(path.Join(l.dir, segmentFileName(base, ext))); err != nil && !errors.Is(err, errNotExist) {
				return fmt.Errorf("remove segment %d: %w", base, err)
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync directory after dropping segments: %w", err)
	}
	return nil
}

package logstore

import (
	"errors"
	"fmt"
	"path"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// Truncate removes every batch that contains an offset at or above offset
// (Kafka truncates at batch boundaries, as a follower does to match its
// leader). The log end offset becomes the base offset of the first removed
// batch, which is offset itself when offset is a batch boundary and lower when
// it falls inside a batch (if that batch held the log start offset, the log
// start offset drops to the new log end offset). Truncating at or above the
// log end offset cuts nothing; at or below the log start offset it empties
// the log and restarts it at offset (TruncateFullyAndStartAt). The flushed
// offset and the cleaner checkpoint drop to at most the new log end offset,
// and the leader-epoch cache loses every entry starting at or past it (past
// the end too: an epoch this replica began without writing, as in Kafka).
func (l *Log) Truncate(offset int64, nowMs int64) error {
	if err := l.checkAppendable(); err != nil {
		return err
	}
	epochsBefore := l.epochs
	if offset >= l.logEndOffset {
		// Nothing to cut, but an epoch begun at the end with no record
		// (this replica led it briefly) goes, as in Kafka.
		l.mu.Lock()
		l.epochs = truncateEpochsFromEnd(l.epochs, l.logEndOffset)
		l.mu.Unlock()
		if err := l.checkpointEpochsIfChanged(epochsBefore); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
		return nil
	}
	if offset <= l.logStartOffset {
		return l.TruncateFullyAndStartAt(offset, nowMs)
	}
	i := segmentIndexFor(l.segments, offset)
	seg := l.segments[i]
	l.mu.RLock()
	v := seg.view()
	l.mu.RUnlock()
	v.blockBytes = l.blockBytes
	cutPos, newEnd, err := l.findCut(&v, offset)
	v.releaseTail()
	if err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if err := l.lowerCleanerCheckpoint(newEnd); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if err := l.retireSegments(l.segments[i+1:], func() { l.segments = l.segments[:i+1] }); err != nil {
		l.fail(err)
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	startBefore := l.logStartOffset
	if err := l.truncateSegment(seg, cutPos, newEnd); err != nil {
		l.fail(err)
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	// The recovery point may lie past the new end: lower it now, so a crash
	// cannot trust bytes written after the truncation but not yet synced.
	if err := l.CheckpointRecoveryPoint(); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	if l.logStartOffset != startBefore {
		if err := l.writeCheckpoint(logStartOffsetCheckpointFile, l.logStartOffset); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	if err := l.checkpointEpochsIfChanged(epochsBefore); err != nil {
		return fmt.Errorf("truncate to %d: %w", offset, err)
	}
	l.truncateAbortedTxns(newEnd)
	if l.producers != nil {
		if err := l.loadProducerState(); err != nil {
			l.fail(err)
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
	}
	l.logger.Info("truncated log", zap.Int64("offset", offset), zap.Int64("log_end_offset", newEnd))
	return nil
}

// findCut returns the position of the first batch whose last offset is at or
// above offset, and the log end offset a cut there leaves (never past
// offset).
func (l *Log) findCut(v *segmentView, offset int64) (pos, newEnd int64, err error) {
	if offset > v.baseOffset {
		pos = int64(lookupOffsetIndex(v.index, uint32(offset-v.baseOffset)).position)
	}
	for pos < v.sizeBytes {
		h, err := v.readBatchHeader(pos, l.cache, l.blockBytes)
		if err != nil {
			return 0, 0, err
		}
		if h.lastOffset() >= offset {
			// In a compacted log offset may fall in a gap (compaction
			// removed its batch): the log then ends at offset, also when
			// the gap starts the segment (its first batch lies past
			// offset: ending at the segment's base offset there would
			// move the end further back than asked).
			return pos, min(h.baseOffset, offset), nil
		}
		pos += h.sizeBytes
	}
	return pos, offset, nil
}

// truncateSegment cuts seg's file at cutPos, rebuilds its indexes by scanning
// what remains into a fresh copy, and publishes it as the active segment under
// a new cache id.
func (l *Log) truncateSegment(seg *segment, cutPos, newEnd int64) error {
	if err := truncateDurably(seg, cutPos); err != nil {
		return err
	}
	for _, ext := range []string{indexFileExt, timeIndexFileExt} {
		if err := l.fs.Remove(path.Join(l.dir, segmentFileName(seg.baseOffset, ext))); err != nil && !errors.Is(err, errNotExist) {
			return fmt.Errorf("remove stale index of %s: %w", seg.logPath(), err)
		}
	}
	fresh := &segment{fs: l.fs, dir: l.dir, baseOffset: seg.baseOffset, logFile: seg.logFile, logger: l.logger,
		nextOffset: seg.baseOffset, maxTimestampMs: -1, offsetOfMaxTimestamp: -1}
	truncated, err := l.scanSegment(fresh, 0, cutPos, nil)
	if err != nil {
		return err
	}
	if truncated {
		return fmt.Errorf("%w: segment %s has invalid data below the truncation point %d", ErrCorruption, seg.logPath(), cutPos)
	}
	if err := l.loadTail(fresh); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seg.id = l.cache.NewSegmentID()
	seg.sizeBytes, seg.nextOffset = fresh.sizeBytes, max(fresh.nextOffset, newEnd)
	seg.index, seg.timeIndex = fresh.index, fresh.timeIndex
	seg.maxTimestampMs, seg.offsetOfMaxTimestamp = fresh.maxTimestampMs, fresh.offsetOfMaxTimestamp
	seg.bytesSinceIndex = fresh.bytesSinceIndex
	seg.lastBatch, seg.lastBatchKnown = fresh.lastBatch, fresh.lastBatchKnown
	seg.recent = nil // it lists batches past the cut; views keep their own
	if seg.tail != nil {
		seg.tail.Release() // views taken before hold their own references
	}
	seg.tail, seg.tailStart = fresh.tail, fresh.tailStart
	l.logEndOffset = seg.nextOffset
	l.flushedOffset = min(l.flushedOffset, l.logEndOffset)
	// A cut inside the batch holding the log start offset removes that
	// batch, so the log starts where it now ends.
	l.logStartOffset = min(l.logStartOffset, l.logEndOffset)
	// Entries at or past the new end describe no record; they go with the
	// end, so readers never see one past it.
	l.epochs = truncateEpochsFromEnd(l.epochs, l.logEndOffset)
	l.truncations++
	return nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty at
// offset, which becomes both the log start and log end offset (a follower
// whose leader's log starts past its own end). The leader-epoch cache is
// emptied.
func (l *Log) TruncateFullyAndStartAt(offset int64, nowMs int64) error {
	if l.closed {
		return errors.New("logstore: truncate a closed log")
	}
	if offset < 0 {
		return fmt.Errorf("truncate fully at negative offset %d: %w", offset, kerr.OffsetOutOfRange)
	}
	if err := l.lowerCleanerCheckpoint(offset); err != nil {
		return fmt.Errorf("truncate fully at %d: %w", offset, err)
	}
	epochsBefore := l.epochs
	old := l.segments
	if err := l.retireSegments(old, func() { l.segments = nil }); err != nil {
		l.fail(err)
		return err
	}
	seg, err := l.createSegment(offset, nowMs)
	if err != nil {
		l.fail(err)
		return err
	}
	if err := l.loadTail(seg); err != nil {
		return err
	}
	l.mu.Lock()
	l.segments = []*segment{seg}
	l.logStartOffset, l.logEndOffset, l.flushedOffset = offset, offset, offset
	l.epochs = nil
	l.truncations++
	l.mu.Unlock()
	l.resetProducerState()
	if err := l.writeCheckpoint(logStartOffsetCheckpointFile, offset); err != nil {
		return fmt.Errorf("truncate fully at %d: %w", offset, err)
	}
	// The checkpointed recovery point may lie past offset: lower it before
	// anything is appended, or a crash would trust unsynced records there.
	if err := l.CheckpointRecoveryPoint(); err != nil {
		return fmt.Errorf("truncate fully at %d: %w", offset, err)
	}
	if err := l.checkpointEpochsIfChanged(epochsBefore); err != nil {
		return fmt.Errorf("truncate fully at %d: %w", offset, err)
	}
	return nil
}

// retireSegments unlists segs (unlist runs under the lock and must drop them
// from l.segments) and deletes their files: the indexes at once, the .log
// renamed to .deleted and removed when its last reader lets go.
func (l *Log) retireSegments(segs []*segment, unlist func()) error {
	if len(segs) == 0 {
		return nil
	}
	segs = append([]*segment(nil), segs...)
	l.mu.Lock()
	unlist()
	l.mu.Unlock()
	var firstErr error
	for _, s := range segs {
		for _, ext := range []string{indexFileExt, timeIndexFileExt, txnIndexFileExt} {
			if err := l.fs.Remove(path.Join(l.dir, segmentFileName(s.baseOffset, ext))); err != nil && !errors.Is(err, errNotExist) && firstErr == nil {
				firstErr = fmt.Errorf("remove index of %s: %w", s.logPath(), err)
			}
		}
		s.deletedPath = s.logPath() + deletedFileExt
		if err := l.fs.Rename(s.logPath(), s.deletedPath); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("rename %s for deletion: %w", s.logPath(), err)
		}
		s.deleted = true
		s.release()
	}
	if err := l.fs.SyncDir(l.dir); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("sync directory after deleting segments: %w", err)
	}
	return firstErr
}

// AdvanceLogStartOffset raises the log start offset to offset (DeleteRecords)
// and deletes the non-active segments wholly below it; the leader-epoch
// cache drops the entries wholly below it and moves the one holding it to
// start there. Lower offsets are a no-op; offsets past the log end offset
// fail with kerr.OffsetOutOfRange.
func (l *Log) AdvanceLogStartOffset(offset int64) error {
	if l.closed {
		return errors.New("logstore: advance the log start offset of a closed log")
	}
	if offset > l.logEndOffset {
		return fmt.Errorf("advance log start offset to %d past the log end offset %d: %w", offset, l.logEndOffset, kerr.OffsetOutOfRange)
	}
	if offset <= l.logStartOffset {
		return nil
	}
	if err := l.writeCheckpoint(logStartOffsetCheckpointFile, offset); err != nil {
		return fmt.Errorf("advance log start offset to %d: %w", offset, err)
	}
	epochsBefore := l.epochs
	l.mu.Lock()
	l.logStartOffset = offset
	l.epochs = truncateEpochsFromStart(l.epochs, offset)
	l.mu.Unlock()
	_, err := l.deleteSegmentPrefix(func(s *segment, _ int64) bool { return false })
	if cerr := l.checkpointEpochsIfChanged(epochsBefore); err == nil && cerr != nil {
		err = fmt.Errorf("advance log start offset to %d: %w", offset, cerr)
	}
	return err
}

// DeleteRetainedSegments applies retention.ms and retention.bytes when
// cleanup.policy includes delete: it deletes the oldest non-active segments
// whose largest timestamp is older than nowMs-retention.ms, or while the log
// without them is still at least retention.bytes, as long as they lie
// wholly below highWatermark (the replica's high watermark): as Kafka's
// deletableSegments, retention never removes records an election may still
// truncate or followers have still to fetch, and the log start offset never
// passes the high watermark (a segment of records timestamped long ago
// waits for them to commit). Whatever the policy, it deletes those wholly
// below the log start offset. The log start offset advances to the first
// remaining segment, and the leader-epoch cache with it (as for
// AdvanceLogStartOffset). It returns how many segments it deleted. Call it
// from the appender.
func (l *Log) DeleteRetainedSegments(nowMs, highWatermark int64) (int, error) {
	if l.closed {
		return 0, errors.New("logstore: retention on a closed log")
	}
	epochsBefore := l.epochs
	n, err := l.deleteSegmentPrefix(func(s *segment, remainingBytes int64) bool {
		if !l.cfg.CleanupPolicyDelete || s.nextOffset > highWatermark {
			return false
		}
		if l.cfg.RetentionMs >= 0 && s.maxTimestampMs < nowMs-l.cfg.RetentionMs {
			return true
		}
		return l.cfg.RetentionBytes >= 0 && remainingBytes-s.sizeBytes >= l.cfg.RetentionBytes
	})
	if cerr := l.checkpointEpochsIfChanged(epochsBefore); err == nil && cerr != nil {
		err = fmt.Errorf("retention: %w", cerr)
	}
	return n, err
}

// deleteSegmentPrefix deletes the longest prefix of non-active segments that
// are below the log start offset or satisfy expired (given the log's size
// before deleting that segment).
func (l *Log) deleteSegmentPrefix(expired func(s *segment, remainingBytes int64) bool) (int, error) {
	remaining := l.SizeBytes()
	n := 0
	for n < len(l.segments)-1 {
		s := l.segments[n]
		if s.nextOffset > l.logStartOffset && !expired(s, remaining) {
			break
		}
		remaining -= s.sizeBytes
		n++
	}
	if n == 0 {
		return 0, nil
	}
	newStart := max(l.logStartOffset, l.segments[n].baseOffset)
	if newStart > l.logStartOffset {
		if err := l.writeCheckpoint(logStartOffsetCheckpointFile, newStart); err != nil {
			return 0, fmt.Errorf("retention: %w", err)
		}
	}
	doomed := l.segments[:n]
	for _, s := range doomed {
		l.logger.Info("deleting segment", zap.String("file", s.logPath()), zap.Int64("next_offset", s.nextOffset))
	}
	err := l.retireSegments(doomed, func() {
		l.segments = append([]*segment(nil), l.segments[n:]...)
		l.logStartOffset = newStart
		l.epochs = truncateEpochsFromStart(l.epochs, newStart)
	})
	return n, err
}

// truncateDurably cuts seg's file at pos and syncs it, so a crash cannot bring
// the cut bytes back.
func truncateDurably(seg *segment, pos int64) error {
	seg.preallocEnd, seg.preallocUnknown = min(seg.preallocEnd, pos), false // the truncation frees what lay past pos
	if err := seg.logFile.Truncate(pos); err != nil {
		return fmt.Errorf("truncate segment %s to %d: %w", seg.logPath(), pos, err)
	}
	if err := syncData(seg.logFile); err != nil {
		return fmt.Errorf("sync segment %s after truncating to %d: %w", seg.logPath(), pos, err)
	}
	return nil
}

package logstore

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// swapFileExt ends the name of a cleaned segment being swapped in:
// "<first base>-<end offset>.swap", where [first base, end offset) is the
// offset range of the segments it replaces.
const swapFileExt = ".swap"

func swapFileName(base, end int64) string {
	return fmt.Sprintf("%020d-%020d%s", base, end, swapFileExt)
}

func parseSwapFileName(name string) (base, end int64, ok bool) {
	stem, ok := strings.CutSuffix(name, swapFileExt)
	a, b, cut := strings.Cut(stem, "-")
	if !ok || !cut || len(a) != 20 || len(b) != 20 {
		return 0, 0, false
	}
	base, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	return base, end, err1 == nil && err2 == nil && base <= end
}

// ReplaceSegments atomically swaps consecutive non-active segments, the first
// of which starts at firstBase and the last of which ends before endOffset,
// for the cleaned segment file at cleanedPath (in the log's directory) that a
// compactor wrote: valid batches with offsets in [firstBase, endOffset),
// increasing. The replaced segments must be below the recovery point (the
// log syncs and checkpoints first if needed). After a crash at any point the
// range holds either the old segments or the cleaned one. Readers holding
// the old segments keep reading them until they release. Call it from the
// appender.
func (l *Log) ReplaceSegments(firstBase, endOffset int64, cleanedPath string) error {
	if err := l.checkAppendable(); err != nil {
		return err
	}
	if _, _, err := l.replaceRange(firstBase, endOffset); err != nil {
		return err
	}
	fresh, err := l.openCleaned(firstBase, endOffset, cleanedPath)
	if err != nil {
		return fmt.Errorf("replace segments %d..%d: %w", firstBase, endOffset, err)
	}
	return l.swapInCleaned(firstBase, endOffset, cleanedPath, fresh)
}

// swapInCleaned replaces the segments covering [firstBase, endOffset) with
// fresh, a validated and synced segment whose file is open at cleanedPath.
// Before the swap is durable, a failure closes fresh's file and leaves it at
// cleanedPath; after, fresh is listed and a failure fails the log.
func (l *Log) swapInCleaned(firstBase, endOffset int64, cleanedPath string, fresh *segment) error {
	abort := func(err error) error {
		_ = fresh.logFile.Close()
		return fmt.Errorf("replace segments %d..%d: %w", firstBase, endOffset, err)
	}
	from, to, err := l.replaceRange(firstBase, endOffset)
	if err != nil {
		return abort(err)
	}
	if l.FlushedOffset() < endOffset {
		if err := l.Sync(); err != nil {
			return abort(err)
		}
	}
	if err := l.CheckpointRecoveryPoint(); err != nil {
		return abort(err)
	}
	swap := path.Join(l.dir, swapFileName(firstBase, endOffset))
	if err := l.fs.Rename(cleanedPath, swap); err != nil {
		return abort(fmt.Errorf("rename %s to %s: %w", cleanedPath, swap, err))
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// The swap file may or may not be durable, so recovery may or may
		// not complete the swap: fail the log, so it is reopened first.
		err = fmt.Errorf("sync directory %s after renaming %s to %s: %w", l.dir, cleanedPath, swap, err)
		l.fail(err)
		return abort(err)
	}
	// From here on recovery completes the swap if we crash.
	old := append([]*segment(nil), l.segments[from:to]...)
	if err := l.retireSegments(old, func() {
		segs := append([]*segment(nil), l.segments[:from]...)
		segs = append(segs, fresh)
		l.segments = append(segs, l.segments[to:]...)
	}); err != nil {
		l.fail(err)
		return fmt.Errorf("replace segments: %w", err)
	}
	if err := l.completeSwap(swap, firstBase); err != nil {
		l.fail(err)
		return fmt.Errorf("replace segments: %w", err)
	}
	// The replaced segments' aborted-transaction indexes went with them:
	// the fresh segment's holds all their entries.
	l.writeTxnIndex(firstBase, endOffset)
	return l.writeIndexFiles(fresh)
}

// replaceRange finds the segments [from, to) that exactly cover
// [firstBase, endOffset) and are not active.
func (l *Log) replaceRange(firstBase, endOffset int64) (from, to int, err error) {
	from = segmentIndexFor(l.segments, firstBase)
	if l.segments[from].baseOffset != firstBase {
		return 0, 0, fmt.Errorf("replace segments: no segment starts at %d", firstBase)
	}
	to = from
	for to < len(l.segments)-1 && l.segments[to].nextOffset <= endOffset {
		to++
	}
	if to == from || l.segments[to-1].nextOffset != endOffset {
		return 0, 0, fmt.Errorf("replace segments: %d..%d is not a run of non-active segments", firstBase, endOffset)
	}
	return from, to, nil
}

// openCleaned syncs and validates the cleaned file as a segment at base.
func (l *Log) openCleaned(base, endOffset int64, cleanedPath string) (*segment, error) {
	f, err := l.fs.OpenFile(cleanedPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open cleaned segment: %w", err)
	}
	fresh := l.newSegment(base, 0)
	fresh.logFile = f
	fail := func(err error) (*segment, error) { _ = f.Close(); return nil, err }
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync cleaned segment %s: %w", cleanedPath, err))
	}
	size, err := f.Size()
	if err != nil {
		return fail(fmt.Errorf("size of cleaned segment %s: %w", cleanedPath, err))
	}
	truncatedOrErr := func() error {
		r := segmentScanner{file: fresh, size: size}
		for pos := int64(0); pos < size; {
			b, problem, err := r.batchAt(pos)
			if err == nil && problem == nil && (b.FirstOffset < fresh.nextOffset || b.LastOffset() >= endOffset) {
				problem = fmt.Errorf("%w: batch %d..%d outside %d..%d or not increasing", ErrCorruption, b.FirstOffset, b.LastOffset(), fresh.nextOffset, endOffset)
			}
			if err != nil || problem != nil {
				return errors.Join(err, problem)
			}
			l.indexBatch(fresh, batchHeader{baseOffset: b.FirstOffset, sizeBytes: int64(len(b.Raw)),
				lastOffsetDelta: b.LastOffsetDelta, maxTimestampMs: b.MaxTimestamp}, pos)
			pos += int64(len(b.Raw))
			fresh.nextOffset = b.NextOffset()
		}
		return nil
	}()
	if truncatedOrErr != nil {
		return fail(fmt.Errorf("cleaned segment %s: %w", cleanedPath, truncatedOrErr))
	}
	fresh.sizeBytes = size
	fresh.nextOffset = endOffset
	fresh.tailStart = size
	return fresh, nil
}

// completeSwap renames a swap file to its segment name and syncs the
// directory.
func (l *Log) completeSwap(swap string, base int64) error {
	if err := l.fs.Rename(swap, path.Join(l.dir, segmentFileName(base, logFileExt))); err != nil {
		return fmt.Errorf("rename %s into place: %w", swap, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("sync directory after swapping in %s: %w", swap, err)
	}
	return nil
}

// recoverSwaps finishes swaps a crash interrupted: the segments a swap file
// replaces are removed and the swap file takes their place.
func (l *Log) recoverSwaps(names []string) error {
	for _, name := range names {
		base, end, ok := parseSwapFileName(name)
		if !ok {
			continue
		}
		for _, other := range names {
			b, isLog := parseSegmentFileName(other, logFileExt)
			if !isLog || b < base || b >= end {
				continue
			}
			for _, ext := range []string{logFileExt, indexFileExt, timeIndexFileExt} {
				if err := l.fs.Remove(path.Join(l.dir, segmentFileName(b, ext))); err != nil && !errors.Is(err, errNotExist) {
					return fmt.Errorf("remove segment %d replaced by %s: %w", b, name, err)
				}
			}
		}
		l.logger.Info("completing interrupted segment swap", zap.String("file", name))
		if err := l.completeSwap(path.Join(l.dir, name), base); err != nil {
			return err
		}
	}
	return nil
}

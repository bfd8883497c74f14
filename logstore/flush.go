package logstore

import (
	"fmt"
	"path"

	"gregor/logstore/vfs"
)

// Sync makes every record appended before it durable and advances the flushed
// offset to cover them. The fsyncs run without the log's lock, so appends and
// reads continue meanwhile; concurrent Syncs are serialised. An fsync failure
// fails the log (the kernel may have dropped the dirty pages): later appends
// return an error until it is reopened.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	target, truncations := l.logEndOffset, l.truncations
	var dirty []*segment
	for _, s := range l.segments {
		if s.nextOffset > l.flushedOffset && s.sizeBytes > 0 && s.acquire() {
			dirty = append(dirty, s)
		}
	}
	l.mu.RUnlock()
	var err error
	for _, s := range dirty {
		if err == nil {
			if serr := syncData(s.logFile); serr != nil {
				err = fmt.Errorf("fsync %s: %w", s.logPath(), serr)
			}
		}
		s.release()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.failed == nil {
			l.failed = err // under mu, like every access
		}
		return err
	}
	if truncations == l.truncations && target > l.flushedOffset {
		l.flushedOffset = target
	}
	return nil
}

// syncData is fdatasync for OS files (the size is still made durable) where
// the platform has it, and Sync otherwise.
func syncData(f vfs.File) error {
	if osf, ok := f.(vfs.OSFiler); ok {
		return fdatasync(osf.OSFile())
	}
	return f.Sync()
}

// Tick runs the time-based policies: a Sync when flush.ms has passed since the
// last one with unflushed records, and a recovery-point checkpoint every
// RecoveryPointCheckpointIntervalMs. Call it from the appender.
func (l *Log) Tick(nowMs int64) error {
	l.mu.RLock()
	unflushed := l.logEndOffset > l.flushedOffset
	l.mu.RUnlock()
	if unflushed && nowMs-l.lastFlushMs >= l.cfg.FlushMs {
		if err := l.Sync(); err != nil {
			return fmt.Errorf("flush (flush.ms %d): %w", l.cfg.FlushMs, err)
		}
		l.lastFlushMs = nowMs
	}
	if nowMs-l.lastCheckpointMs >= l.cfg.RecoveryPointCheckpointIntervalMs {
		l.lastCheckpointMs = nowMs
		return l.CheckpointRecoveryPoint()
	}
	return nil
}

// CheckpointRecoveryPoint persists the flushed offset as the recovery point,
// so the next unclean start rescans only past it. Call it from the appender.
func (l *Log) CheckpointRecoveryPoint() error {
	flushed := l.FlushedOffset()
	if flushed == l.checkpointedRecoveryPt {
		return nil
	}
	if err := l.writeCheckpoint(recoveryPointCheckpointFile, flushed); err != nil {
		return fmt.Errorf("checkpoint recovery point %d: %w", flushed, err)
	}
	l.checkpointedRecoveryPt = flushed
	return nil
}

// Close flushes the log, writes the active segment's indexes, the checkpoints
// and the clean shutdown marker (unless the log failed), and closes the files.
// Records still held by readers stay readable until released. An outstanding
// CleanJob is abandoned (a Run in progress stops and cleans up after itself);
// to reopen the directory at once, wait for such a Run to return first.
func (l *Log) Close() error {
	return l.close(true)
}

// CloseForDeletion closes the log's files without flushing them or writing
// its indexes, checkpoints and clean shutdown marker: for a log whose
// directory is deleted next (its topic deleted, its replica moved away),
// where a flush would only write to disk what is about to go. A crash
// before the deletion leaves a log that recovers as after any crash.
func (l *Log) CloseForDeletion() error {
	return l.close(false)
}

func (l *Log) close(cleanly bool) error {
	if l.closed {
		return nil
	}
	l.closed = true
	if l.cleanJob != nil {
		l.cleanJob.Abandon()
		l.cleanJob = nil
	}
	var err error
	if cleanly {
		err = l.closeCleanly()
	}
	l.releaseAllHeld()
	l.mu.Lock()
	segs := l.segments
	l.segments = nil
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
	if err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

func (l *Log) closeCleanly() error {
	if err := l.failure(); err != nil {
		return err
	}
	if err := l.Sync(); err != nil {
		return err
	}
	if err := l.writeIndexFiles(l.active()); err != nil {
		return err
	}
	l.trimPrealloc(l.active())
	l.writeProducerSnapshot()
	if err := l.writeCheckpoint(logStartOffsetCheckpointFile, l.LogStartOffset()); err != nil {
		return err
	}
	if err := l.CheckpointRecoveryPoint(); err != nil {
		return err
	}
	return writeFileAtomic(l.fs, path.Join(l.dir, cleanShutdownFile), nil)
}

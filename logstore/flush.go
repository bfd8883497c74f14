package logstore

import (
	"bytes"
	"fmt"
	"os"
	"path"

	"go.uber.org/zap"

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

// CloseForShutdown is Close for a node stopping with every one of its
// logs, on an FS that is a vfs.FSSyncer: the clean shutdown marker is
// created but its directory not synced, and the caller syncs the
// filesystem once every log closed (vfs.FSSyncer), one commit for all the
// markers. Until then a crash finds the log without its marker and
// recovers it, as after any crash; everything the marker vouches for is
// durable before the marker exists, as with Close. On another FS it is
// Close.
func (l *Log) CloseForShutdown() error {
	if _, ok := l.fs.(vfs.FSSyncer); !ok {
		return l.Close()
	}
	return l.closeWith(closeMarkerUnsynced)
}

// How a close ends.
const (
	closeUncleanly      = iota // no flush, no marker (CloseForDeletion)
	closeCleanly               // flushed, marker durable (Close)
	closeMarkerUnsynced        // flushed, marker durable at the caller's SyncFS
)

func (l *Log) close(cleanly bool) error {
	if cleanly {
		return l.closeWith(closeCleanly)
	}
	return l.closeWith(closeUncleanly)
}

func (l *Log) closeWith(how int) error {
	if l.closed {
		return nil
	}
	l.closed = true
	if l.cleanJob != nil {
		l.cleanJob.Abandon()
		l.cleanJob = nil
	}
	var err error
	if how != closeUncleanly {
		err = l.closeCleanly(how == closeCleanly)
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

func (l *Log) closeCleanly(syncMarker bool) error {
	if err := l.failure(); err != nil {
		return err
	}
	if err := l.Sync(); err != nil {
		return err
	}
	// Each file below is replaced only when it does not hold its content
	// already (an idle partition's hold theirs from the last close or roll),
	// and its directory is synced once for all of them, before the marker:
	// a broker with a thousand idle partitions stops in a fraction of the
	// fsyncs (one per partition instead of eight).
	w := closeWriter{fs: l.fs}
	for _, f := range l.indexFiles(l.active()) {
		w.replace(path.Join(l.dir, f.name), f.data)
	}
	if w.err != nil {
		return w.err
	}
	l.trimPrealloc(l.active())
	if l.producers != nil {
		name := path.Join(l.dir, segmentFileName(l.logEndOffset, producerSnapshotExt))
		if w.replace(name, encodeProducerSnapshot(l.producers)); w.err != nil {
			// A snapshot is only a shortcut for recovery (as in
			// writeProducerSnapshot).
			l.logger.Warn("producer snapshot not written", zap.Int64("offset", l.logEndOffset), zap.Error(w.err))
			w.err = nil
		} else {
			l.dropOldProducerSnapshots()
		}
	}
	w.replace(path.Join(l.dir, logStartOffsetCheckpointFile), encodeCheckpoint(l.LogStartOffset()))
	flushed := l.FlushedOffset()
	w.replace(path.Join(l.dir, recoveryPointCheckpointFile), encodeCheckpoint(flushed))
	if w.err != nil {
		return w.err
	}
	l.checkpointedRecoveryPt = flushed
	// The marker says every file above holds what it should: their
	// renames are made durable before the marker exists.
	if w.replaced {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("sync %s before the clean shutdown marker: %w", l.dir, err)
		}
	}
	return createMarker(l.fs, path.Join(l.dir, cleanShutdownFile), syncMarker)
}

// closeWriter replaces files as a clean close writes them: content synced,
// renamed over the old file, the directory synced once by the caller. The
// first error stops it.
type closeWriter struct {
	fs       vfs.FS
	replaced bool
	err      error
}

// replace makes name hold data unless it does already. A file whose name
// holds data was written by vfs.ReplaceFile or vfs.WriteFileAtomic (no file
// here is written otherwise), so its content was synced before it got its
// name, and the caller's directory sync makes the name durable in any case.
func (w *closeWriter) replace(name string, data []byte) {
	if w.err != nil {
		return
	}
	if held, err := ReadWholeFile(w.fs, name, int64(len(data))); err == nil && bytes.Equal(held, data) {
		return
	}
	if err := vfs.ReplaceFile(w.fs, name, data); err != nil {
		w.err = err
		return
	}
	w.replaced = true
}

// createMarker creates name empty (the clean shutdown marker: its
// existence is its content) and, with syncDir, syncs its directory.
func createMarker(fsys vfs.FS, name string, syncDir bool) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if !syncDir {
		return nil
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		return fmt.Errorf("create %s: directory sync: %w", name, err)
	}
	return nil
}

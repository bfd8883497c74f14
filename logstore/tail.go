package logstore

import (
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"
)

// tailKeepMs is how long after the last caught-up read the log keeps its
// tail in memory: twice the longest a Kafka client waits in a fetch by
// default (franz-go's fetch.max.wait 5 s), so a consumer or follower that
// is caught up and long-polling keeps it.
const tailKeepMs = 10_000

// The tail: a log with a cache keeps the active segment's last block in
// memory, copying every appended byte into it and handing each block that
// fills to the cache, only while somebody reads what was just appended. A
// read that reaches the end of what it may read (the high watermark for a
// consumer, the log end offset for a follower) is caught up; its next read
// will be of bytes appended after it, which the tail then serves from
// memory. Without such reads for tailKeepMs, appends stop copying (a
// consumer far behind reads the file, which the kernel's page cache keeps
// and sendfile sends without a copy). The produced bytes are then copied
// twice in all: by the socket read and by the write to the segment file.

// noteTailRead records a caught-up read (any goroutine).
func (l *Log) noteTailRead() {
	if l.tailAllowed && !l.tailRead.Load() {
		l.tailRead.Store(true)
	}
}

// updateTailPolicy starts keeping the tail after a caught-up read, and stops
// when none came for tailKeepMs (appender, before an append at nowMs).
func (l *Log) updateTailPolicy(nowMs int64) {
	if !l.tailAllowed {
		return
	}
	if l.tailRead.Load() {
		l.tailRead.Store(false)
		l.lastTailReadMs = nowMs
		if !l.keepTail {
			l.startTail()
		}
		return
	}
	if l.keepTail && nowMs-l.lastTailReadMs > tailKeepMs {
		l.stopTail()
	}
}

// startTail loads the active segment's last partial block and keeps the
// tail from now on. A failed read leaves the tail off (readers use the
// file).
func (l *Log) startTail() {
	seg := l.active()
	l.keepTail = true
	if err := l.loadTail(seg); err != nil {
		l.keepTail = false
		l.logger.Warn("tail not kept in memory", zap.Error(err))
	}
}

// stopTail lets go of the active segment's tail block.
func (l *Log) stopTail() {
	seg := l.active()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keepTail = false
	if seg.tail != nil {
		seg.tail.Release() // views taken before hold their own references
		seg.tail = nil
	}
	seg.tailStart = seg.sizeBytes
}

// loadTail reads seg's last partial block into a tail block when the log
// keeps its tail, and publishes it; otherwise it marks seg as having none.
// seg is the active segment, or one about to replace it (its fields are
// then published by the caller).
func (l *Log) loadTail(seg *segment) error {
	tailStart, tail := seg.sizeBytes, (*Block)(nil)
	if l.keepTail {
		b := l.blockBytes
		tailStart = seg.sizeBytes &^ (b - 1)
		if n := seg.sizeBytes - tailStart; n > 0 {
			tail = l.blocks.get(int(b))
			tail.buf = tail.buf[:n]
			if _, err := seg.logFile.ReadAt(tail.buf, tailStart); err != nil && !errors.Is(err, io.EOF) {
				tail.Release()
				return fmt.Errorf("segment %s: read tail at %d: %w", seg.logPath(), tailStart, err)
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if seg.tail != nil {
		seg.tail.Release()
	}
	seg.tail, seg.tailStart = tail, tailStart
	return nil
}

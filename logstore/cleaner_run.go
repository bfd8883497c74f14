package logstore

// CleanJob.Run: the cleaner's heavy half, on any goroutine. See cleaner.go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
)

// cleanerWriteBytes is how much cleaned output Run buffers per write.
const cleanerWriteBytes = 1 << 20

// errCleanJobAbandoned is what Run returns when Abandon stopped it.
var errCleanJobAbandoned = errors.New("clean job abandoned")

// Run does the job's I/O: it maps the keys of the dirty part to their latest
// offsets (up to opts.MaxKeys; a fuller dirty part is cleaned up to where the
// map filled), then, for each group of consecutive segments from the log
// start whose input fits segment.bytes, writes a cleaned copy keeping each
// key's latest record and tombstones younger than delete.retention.ms,
// indexes it and fsyncs it. It reads only the segments the job holds and
// touches no state of the log, so appends and reads go on meanwhile. It
// stops with ctx's error when ctx is done, and with an error when Abandon
// is called. Call it once, on any goroutine; then CommitClean or Abandon
// the job from the appender (Abandon also after an error).
func (j *CleanJob) Run(ctx context.Context, opts CleanerOptions) error {
	j.mu.Lock()
	if j.state != cleanJobPlanned {
		state := j.state
		j.mu.Unlock()
		return fmt.Errorf("run clean job of %s: the job is %s, not planned", j.log.dir, state)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j.state, j.cancel = cleanJobRunning, cancel
	j.mu.Unlock()

	err := j.run(ctx, opts)

	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.abandoned:
		j.discardLocked()
		j.state = cleanJobFinished
		return fmt.Errorf("run clean job of %s: %w", j.log.dir, errCleanJobAbandoned)
	case err != nil:
		j.removeOutputsLocked()
		j.state = cleanJobFailed
		return fmt.Errorf("run clean job of %s: %w", j.log.dir, err)
	}
	j.state = cleanJobRan
	return nil
}

// run builds the key offset map, then writes the cleaned groups.
func (j *CleanJob) run(ctx context.Context, opts CleanerOptions) error {
	c := cleanerIO{ctx: ctx, throttle: opts.Throttle, stats: &j.stats}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = DefaultCleanerMaxKeys
	}
	keys := newKeyOffsetMap(maxKeys, j.log.codecs)
	producers := make(map[int64]producerLastBatches)
	cleanedUpTo, err := j.buildOffsetMap(&c, keys, producers, maxKeys)
	if err != nil {
		return err
	}
	j.stats.CleanedUpToOffset = cleanedUpTo
	keep := keys.Keep(j.nowMs, j.deleteRetentionMs)
	// Kafka keeps the last data batch of each active idempotent producer,
	// empty if need be, so that its sequence numbers survive a marker after
	// it (a transaction.version 1 marker leaves them as they were). Without
	// producer state the cleaner keeps, conservatively, a producer's last
	// mapped batch and its last mapped data batch, and any batch of a
	// producer it did not map. The pass's last
	// batch is kept too, empty if need be (as Kafka's cleaner does since
	// KAFKA-17076): should every record below the log end offset go (the
	// records after it lost, say), a follower copying the log from an
	// earlier offset still reads its way up to the end.
	retainEmpty := func(b *Batch) bool {
		if b.NextOffset() == cleanedUpTo {
			return true
		}
		if b.ProducerID < 0 {
			return false
		}
		last, mapped := producers[b.ProducerID]
		return !mapped || last.batch == b.FirstOffset || last.data == b.FirstOffset
	}
	for _, sources := range j.groupSources(cleanedUpTo) {
		g := &cleanedGroup{sources: sources}
		j.groups = append(j.groups, g)
		if err := j.cleanGroup(&c, g, keep, retainEmpty); err != nil {
			return err
		}
	}
	return nil
}

// producerLastBatches are the first offsets of a producer's last batch and
// of its last data batch (-1 for none) in the part of the log a clean maps.
type producerLastBatches struct{ batch, data int64 }

// cleanerIO paces and counts the cleaner's reads and writes.
type cleanerIO struct {
	ctx      context.Context
	throttle CleanerThrottle
	stats    *CleanStats
}

// wait checks ctx and asks the throttle for n bytes, in chunks.
func (c *cleanerIO) wait(n int64) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	for c.throttle != nil && n > 0 {
		chunk := min(n, CleanerThrottleChunkBytes)
		if err := c.throttle.WaitN(c.ctx, int(chunk)); err != nil {
			return err
		}
		n -= chunk
	}
	return nil
}

// eachBatch calls fn with every batch of src (its bytes alias a buffer that
// fn must not keep), checking that offsets increase within the segment.
func (c *cleanerIO) eachBatch(src cleanSource, buf *[]byte, fn func(b *Batch, pos int64) error) error {
	r := segmentScanner{file: src.seg, size: src.sizeBytes, buf: (*buf)[:0]}
	defer func() { *buf = r.buf }()
	next := src.baseOffset
	for pos := int64(0); pos < src.sizeBytes; {
		b, problem, err := r.batchAt(pos)
		if err != nil {
			return err
		}
		if problem == nil && (b.FirstOffset < next || b.LastOffset() >= src.nextOffset) {
			problem = fmt.Errorf("%w: batch %d..%d outside %d..%d or not increasing", ErrCorruption, b.FirstOffset, b.LastOffset(), next, src.nextOffset-1)
		}
		if problem != nil {
			return fmt.Errorf("segment %s position %d: %w", src.seg.logPath(), pos, problem)
		}
		if err := c.wait(int64(len(b.Raw))); err != nil {
			return err
		}
		c.stats.BytesRead += int64(len(b.Raw))
		if err := fn(&b, pos); err != nil {
			return err
		}
		pos += int64(len(b.Raw))
		next = b.NextOffset()
	}
	return nil
}

// buildOffsetMap adds the dirty part's batches to keys (the records of
// committed transactions too, not those of aborted ones), and each idempotent
// producer's last mapped batch and last mapped data batch to producers, until either would pass
// maxKeys. It returns the offset the map covers up to: the end of the
// sources, or one past the last batch added.
func (j *CleanJob) buildOffsetMap(c *cleanerIO, keys *KeyOffsetMap, producers map[int64]producerLastBatches, maxKeys int) (int64, error) {
	errFull := errors.New("full")
	var buf []byte
	for _, src := range j.sources {
		if src.nextOffset <= j.firstDirtyOffset {
			continue
		}
		var fullAt int64
		err := c.eachBatch(src, &buf, func(b *Batch, pos int64) error {
			if b.LastOffset() < j.firstDirtyOffset {
				return nil
			}
			fullAt = b.FirstOffset
			_, known := producers[b.ProducerID]
			if b.ProducerID >= 0 && !known && len(producers) >= maxKeys {
				return errFull
			}
			committed := b.Attributes&compactAttrTransactional != 0 && !j.inAbortedTxn(b)
			if err := keys.addBatch(b.Raw, committed); errors.Is(err, ErrKeyOffsetMapFull) {
				return errFull
			} else if err != nil {
				return fmt.Errorf("segment %s position %d: %w", src.seg.logPath(), pos, err)
			}
			if b.ProducerID >= 0 {
				last, known := producers[b.ProducerID]
				if !known {
					last.data = -1
				}
				last.batch = b.FirstOffset
				if b.Attributes&compactAttrControl == 0 {
					last.data = b.FirstOffset
				}
				producers[b.ProducerID] = last
			}
			return nil
		})
		if errors.Is(err, errFull) {
			if keys.LatestOffset() < j.firstDirtyOffset {
				return 0, fmt.Errorf("key offset map of %d keys cannot hold the first dirty batch, at offset %d in %s", maxKeys, fullAt, src.seg.logPath())
			}
			return keys.LatestOffset() + 1, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return j.sources[len(j.sources)-1].nextOffset, nil
}

// groupSources splits the sources holding offsets below upTo into runs of
// consecutive segments whose input fits segment.bytes (so the output does)
// and whose offsets fit the 32-bit relative index; a larger segment is a run
// of its own.
func (j *CleanJob) groupSources(upTo int64) [][]cleanSource {
	var groups [][]cleanSource
	start, bytes := 0, int64(0)
	for i, src := range j.sources {
		if src.baseOffset >= upTo {
			break
		}
		if i > start && (bytes+src.sizeBytes > j.segmentBytes || src.nextOffset-1-j.sources[start].baseOffset > math.MaxUint32) {
			groups = append(groups, j.sources[start:i])
			start, bytes = i, 0
		}
		bytes += src.sizeBytes
		if i == len(j.sources)-1 || j.sources[i+1].baseOffset >= upTo {
			groups = append(groups, j.sources[start:i+1])
		}
	}
	return groups
}

// cleanGroup writes the cleaned copy of g's sources to g.path and leaves it
// synced and indexed in g.fresh, or, when cleaning would change nothing in
// a group of one segment, removes it again. A group of several segments is
// swapped in even when no record went, as Kafka's cleaner rewrites every
// group: its segments become one, so that a log compaction thinned (or
// whose segments rolled small) is not left in many small segments, each a
// fetch of its own for a reader (a fetch reads from one segment).
func (j *CleanJob) cleanGroup(c *cleanerIO, g *cleanedGroup, keep KeepFunc, retainEmpty func(*Batch) bool) error {
	l := j.log
	g.path = l.cleanedPath(g.baseOffset())
	f, err := l.fs.OpenFile(g.path, osCreateFlags|os.O_TRUNC, 0o644)
	if err != nil {
		g.path = ""
		return fmt.Errorf("create cleaned segment: %w", err)
	}
	fresh := l.newSegment(g.baseOffset(), 0)
	fresh.logFile = f
	g.fresh = fresh
	w := cleanedWriter{io: c, seg: fresh, indexIntervalBytes: j.indexIntervalBytes}
	changed := false
	var buf []byte
	for _, src := range g.sources {
		err := c.eachBatch(src, &buf, func(b *Batch, pos int64) error {
			res, err := j.filterBatch(b, keep, retainEmpty(b))
			if err != nil {
				return fmt.Errorf("segment %s position %d: %w", src.seg.logPath(), pos, err)
			}
			c.stats.RecordsKept += int64(res.Kept)
			c.stats.RecordsRemoved += int64(res.Dropped)
			changed = changed || res.Dropped > 0
			if res.Batch == nil {
				c.stats.BatchesRemoved++
				return nil
			}
			return w.add(res.Batch)
		})
		if err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	if !changed && len(g.sources) == 1 {
		g.fresh = nil
		_ = f.Close()
		if err := l.fs.Remove(g.path); err != nil {
			return fmt.Errorf("remove unneeded cleaned segment: %w", err)
		}
		g.path = ""
		return nil
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync cleaned segment %s: %w", g.path, err)
	}
	fresh.sizeBytes, fresh.tailStart, fresh.nextOffset = w.pos, w.pos, g.endOffset()
	return nil
}

// cleanedWriter appends batches to a cleaned segment's file through a
// buffer, indexing them as it goes.
type cleanedWriter struct {
	io                 *cleanerIO
	seg                *segment
	indexIntervalBytes int64
	buf                []byte
	pos                int64 // where the next batch goes
	flushed            int64 // file bytes written
}

func (w *cleanedWriter) add(p []byte) error {
	h, err := parseBatchHeader(p)
	if err != nil {
		panic(fmt.Sprintf("logstore: filtered batch has a bad header: %v", err))
	}
	if w.pos+h.sizeBytes > math.MaxInt32 {
		return fmt.Errorf("cleaned segment %s would pass %d bytes", w.seg.logFile.Name(), math.MaxInt32)
	}
	indexBatchEvery(w.seg, h, w.pos, w.indexIntervalBytes)
	w.seg.nextOffset = h.nextOffset()
	w.buf = append(w.buf, p...)
	w.pos += h.sizeBytes
	if len(w.buf) >= cleanerWriteBytes {
		return w.flush()
	}
	return nil
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.io.wait(int64(len(w.buf))); err != nil {
		return err
	}
	if _, err := w.seg.logFile.WriteAt(w.buf, w.flushed); err != nil {
		return fmt.Errorf("write %d bytes to %s at position %d: %w", len(w.buf), w.seg.logFile.Name(), w.flushed, err)
	}
	w.io.stats.BytesWritten += int64(len(w.buf))
	w.flushed += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

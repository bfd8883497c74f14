package logstore

import (
	"fmt"
	"io"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Records is the result of a Read: whole stored batches, as chunks that are
// either in-memory blocks (the tail or the cache) or sections of a segment
// file. Write it to a socket with WriteTo (file sections go through sendfile
// when possible) or copy it with AppendTo. Call Release when done: it keeps
// the segments it reads from open, even if retention deletes them meanwhile.
// A Records is not safe for concurrent use.
type Records struct {
	// FirstOffset is the base offset of the first batch (at or below the
	// offset asked for); NextOffset is one past the last batch's last offset.
	// Both equal the requested offset when no batch was returned.
	FirstOffset int64
	NextOffset  int64
	sizeBytes   int64
	chunks      []recordsChunk
	segments    []*segment
	// blocks are the tail and cache blocks the records hold references
	// to: their memory chunks point into them.
	blocks []*Block
	// held are the held batches (held.go) the records hold references
	// to: their memory chunks may point into them.
	held     []*heldBatch
	cache    BlockCache
	pool     *BlockPool
	released bool
	// readChunk and readPos are the io.Reader cursor.
	readChunk int
	readPos   int64
}

// Read implements io.Reader (a copy through user space); io.Copy prefers
// WriteTo, which avoids it.
func (r *Records) Read(p []byte) (int, error) {
	for r.readChunk < len(r.chunks) {
		c := &r.chunks[r.readChunk]
		var n int
		if c.mem != nil {
			n = copy(p, c.mem[r.readPos:])
		} else {
			m := min(int64(len(p)), c.section.n-r.readPos)
			if _, err := c.section.view.seg.logFile.ReadAt(p[:m], c.section.pos+r.readPos); err != nil {
				return 0, fmt.Errorf("read %s position %d: %w", c.section.view.seg.logPath(), c.section.pos+r.readPos, err)
			}
			n = int(m)
		}
		r.readPos += int64(n)
		if r.readPos == chunkLen(c) {
			r.readChunk, r.readPos = r.readChunk+1, 0
		}
		if n > 0 || len(p) == 0 {
			return n, nil
		}
	}
	return 0, io.EOF
}

func chunkLen(c *recordsChunk) int64 {
	if c.mem != nil {
		return int64(len(c.mem))
	}
	return c.section.n
}

// recordsChunk is either mem or a file section.
type recordsChunk struct {
	mem     []byte
	section FileSection
}

// Len is the number of bytes in the records.
func (r *Records) Len() int64 { return r.sizeBytes }

// WriteTo writes every chunk to w, in order. With a TCP connection as w, file
// sections go out through sendfile without passing through user space;
// otherwise they are copied through one pooled block.
func (r *Records) WriteTo(w io.Writer) (int64, error) {
	var total int64
	// A file section that sendfile cannot send is copied through a pooled
	// block (fresh memory per call costs page faults), taken when needed.
	var block *Block
	defer func() {
		if block != nil {
			block.Release()
		}
	}()
	copyBuf := func(s *FileSection) []byte {
		if block == nil {
			block = r.pool.get(int(s.view.blockBytes))
		}
		return block.buf[:cap(block.buf)]
	}
	for i := range r.chunks {
		c := &r.chunks[i]
		var n int64
		var err error
		if c.mem != nil {
			var m int
			m, err = w.Write(c.mem)
			n = int64(m)
		} else {
			n, err = c.section.writeTo(w, copyBuf)
		}
		total += n
		if err != nil {
			return total, fmt.Errorf("write records: %w", err)
		}
	}
	return total, nil
}

// AppendBuffers appends the records' chunks to bufs when every one of them
// is in memory (held batches, the tail, cached blocks), so that a writer can
// send them with other bytes in one writev; ok is false, and bufs as it
// was, when a chunk is a file section (WriteTo sends it). The buffers stay
// valid until Release.
func (r *Records) AppendBuffers(bufs [][]byte) (_ [][]byte, ok bool) {
	for i := range r.chunks {
		if r.chunks[i].mem == nil {
			return bufs, false
		}
	}
	for i := range r.chunks {
		bufs = append(bufs, r.chunks[i].mem)
	}
	return bufs, true
}

// AppendTo appends the records' bytes to dst. Blocks read from disk on the way
// are offered to the cache.
func (r *Records) AppendTo(dst []byte) ([]byte, error) {
	if need := len(dst) + int(r.sizeBytes); cap(dst) < need {
		grown := make([]byte, len(dst), need)
		copy(grown, dst)
		dst = grown
	}
	for _, c := range r.chunks {
		if c.mem != nil {
			dst = append(dst, c.mem...)
			continue
		}
		var err error
		if dst, err = c.section.appendThroughCache(dst, r.cache, r.pool); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Bytes returns a copy of the records' bytes.
func (r *Records) Bytes() ([]byte, error) { return r.AppendTo(nil) }

// Release lets go of the segments the records read from. It is idempotent;
// the records must not be used afterwards.
func (r *Records) Release() {
	if r.released {
		return
	}
	r.released = true
	r.chunks = nil
	for _, b := range r.blocks {
		b.Release()
	}
	r.blocks = nil
	for _, h := range r.held {
		h.unref()
	}
	r.held = nil
	for _, s := range r.segments {
		s.release()
	}
}

// FileSection is n bytes of a segment file at a position. It implements
// io.WriterTo: to a TCP connection from an *os.File it uses sendfile with an
// explicit offset (concurrent readers never share a file position); otherwise
// it copies through a buffer with ReadAt.
type FileSection struct {
	view segmentView
	pos  int64
	n    int64
}

// Len is the section's size in bytes.
func (s *FileSection) Len() int64 { return s.n }

// WriteTo writes the section to w.
func (s *FileSection) WriteTo(w io.Writer) (int64, error) {
	return s.writeTo(w, func(s *FileSection) []byte { return make([]byte, min(s.n, maxCopyBufBytes)) })
}

// maxCopyBufBytes bounds the buffer FileSection.WriteTo copies through
// when sendfile does not apply.
const maxCopyBufBytes = 256 << 10

// writeTo writes the section to w with sendfile, or else by copying through
// the buffer copyBuf returns (asked for only then).
func (s *FileSection) writeTo(w io.Writer, copyBuf func(*FileSection) []byte) (int64, error) {
	if n, handled, err := sendFileSection(w, s.view.seg.logFile, s.pos, s.n); handled {
		if err != nil {
			err = fmt.Errorf("sendfile %s position %d: %w", s.view.seg.logPath(), s.pos+n, err)
		}
		return n, err
	}
	buf := copyBuf(s)
	var written int64
	for written < s.n {
		chunk := buf[:min(int64(len(buf)), s.n-written)]
		if _, err := s.view.seg.logFile.ReadAt(chunk, s.pos+written); err != nil {
			return written, fmt.Errorf("read %s position %d: %w", s.view.seg.logPath(), s.pos+written, err)
		}
		m, err := w.Write(chunk)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// appendThroughCache appends the section to dst, reading whole blocks and
// offering those that can no longer change to the cache.
func (s *FileSection) appendThroughCache(dst []byte, cache BlockCache, pool *BlockPool) ([]byte, error) {
	b := s.view.blockBytes
	pos, end := s.pos, s.pos+s.n
	for pos < end {
		blockStart := pos &^ (b - 1)
		blockEnd := min(blockStart+b, s.view.sizeBytes, s.view.tailStart)
		stop := min(end, blockEnd)
		// A block is final once it is full, or when its segment takes no
		// more appends (then the partial last block is final too). One
		// that is not is never cached: read just what is asked for.
		if blockEnd-blockStart < b && s.view.active {
			n := len(dst)
			dst = append(dst, make([]byte, stop-pos)...)
			if _, err := s.view.seg.logFile.ReadAt(dst[n:], pos); err != nil {
				return dst[:n], fmt.Errorf("read %s position %d: %w", s.view.seg.logPath(), pos, err)
			}
			pos = stop
			continue
		}
		block := pool.get(int(b))
		block.buf = block.buf[:blockEnd-blockStart]
		if _, err := s.view.seg.logFile.ReadAt(block.buf, blockStart); err != nil {
			block.Release()
			return dst, fmt.Errorf("read %s position %d: %w", s.view.seg.logPath(), blockStart, err)
		}
		dst = append(dst, block.buf[pos-blockStart:stop-blockStart]...)
		pos = stop
		cacheBlock(cache, blockCacheKey(s.view.id, blockStart/b), block)
	}
	return dst, nil
}

// Read returns whole batches starting with the one that contains offset, up
// to maxBytes in total but always at least one whole batch (Kafka semantics),
// and never a batch that reaches maxOffset (the high watermark; pass
// LogEndOffset to read everything). Reads stay within one segment. Reading at
// the log end offset or at maxOffset returns no batches. An offset outside
// [LogStartOffset, LogEndOffset] fails with kerr.OffsetOutOfRange. A read
// that reaches maxOffset is caught up: the log keeps its tail in memory for
// the next (tail.go).
func (l *Log) Read(offset, maxBytes, maxOffset int64) (*Records, error) {
	return l.read(offset, maxBytes, maxOffset, true)
}

// ReadUntailed is Read for a reader the log need not keep its tail for: a
// follower's fetch, which the leader sends from the file by sendfile (the
// kernel's page cache holds what was just written), as Kafka does, instead
// of copying every appended byte into a tail block it would send from (it
// still reads the tail when the log keeps one for another reader).
func (l *Log) ReadUntailed(offset, maxBytes, maxOffset int64) (*Records, error) {
	return l.read(offset, maxBytes, maxOffset, false)
}

// read is Read; tailed says a caught-up read asks the log to keep its tail.
func (l *Log) read(offset, maxBytes, maxOffset int64, tailed bool) (*Records, error) {
	if !tailed && !l.recentWanted.Load() {
		l.recentWanted.Store(true) // a follower: list the batches appended from now on
	}
	views, logStart, logEnd := l.viewsFrom(offset, maxBytes)
	recs := &Records{FirstOffset: offset, NextOffset: offset, cache: l.cache, pool: l.blocks}
	for i := range views {
		recs.segments = append(recs.segments, views[i].seg)
		if views[i].tailBlock != nil {
			// The records hold the view's reference from here on.
			recs.blocks = append(recs.blocks, views[i].tailBlock)
		}
		if views[i].held != nil {
			recs.held = views[i].held // likewise; only the active view has any
		}
	}
	if offset < logStart || offset > logEnd {
		recs.Release()
		return nil, fmt.Errorf("read offset %d, log has %d..%d: %w", offset, logStart, logEnd, kerr.OffsetOutOfRange)
	}
	maxOffset = min(maxOffset, logEnd)
	for i := range views {
		v := &views[i]
		if offset >= maxOffset {
			break
		}
		found, err := l.readFromSegment(v, recs, offset, maxBytes, maxOffset)
		if err != nil {
			recs.Release()
			return nil, err
		}
		if found {
			break
		}
	}
	if tailed && recs.NextOffset >= maxOffset {
		l.noteTailRead()
	}
	return recs, nil
}

// viewsFrom snapshots the segments from the one holding offset to the end,
// each acquired, with the log's start and end offsets. The active segment's
// view holds references to the held batches a read of maxBytes from offset
// may send.
func (l *Log) viewsFrom(offset, maxBytes int64) ([]segmentView, int64, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if offset < l.logStartOffset || offset > l.logEndOffset {
		return nil, l.logStartOffset, l.logEndOffset
	}
	var views []segmentView
	first := segmentIndexFor(l.segments, offset)
	for i, s := range l.segments[first:] {
		if !s.acquire() {
			panic(fmt.Sprintf("logstore: listed segment %s is already closed", s.logPath()))
		}
		v := s.view()
		v.blockBytes = l.blockBytes
		v.active = first+i == len(l.segments)-1
		if v.active {
			v.held = l.heldFor(&v, offset, maxBytes)
		}
		views = append(views, v)
	}
	return views, l.logStartOffset, l.logEndOffset
}

// readFromSegment fills recs from v if v holds a batch containing offset or
// after it; found says whether it did (further segments are then not read).
func (l *Log) readFromSegment(v *segmentView, recs *Records, offset, maxBytes, maxOffset int64) (found bool, err error) {
	if offset >= v.nextOffset {
		return false, nil
	}
	b := l.blockBytes
	pos := int64(0)
	if offset > v.baseOffset {
		pos = int64(lookupOffsetIndex(v.index, uint32(offset-v.baseOffset)).position)
	}
	if r, ok := v.recentHolding(offset); ok {
		pos = r.pos // no headers to walk to it (recent.go)
	}
	var h batchHeader
	for ; pos < v.sizeBytes; pos += h.sizeBytes {
		if h, err = v.header(pos, l.cache, b); err != nil {
			return false, err
		}
		if h.lastOffset() >= offset {
			break
		}
	}
	if pos >= v.sizeBytes {
		return false, nil
	}
	start, end := pos, pos
	recs.FirstOffset = h.baseOffset
	// Skip whole batches with the offset index, then walk the headers of
	// the last few.
	if e, ok := indexJump(v, start, maxBytes, maxOffset); ok {
		end = int64(e.position)
		recs.NextOffset = v.baseOffset + int64(e.relOffset)
	}
	for end < v.sizeBytes {
		if h, err = v.header(end, l.cache, b); err != nil {
			return false, err
		}
		if h.lastOffset() >= maxOffset || (end > start && end-start+h.sizeBytes > maxBytes) {
			break
		}
		end += h.sizeBytes
		recs.NextOffset = h.nextOffset()
	}
	if end == start {
		recs.FirstOffset = offset
		return true, nil
	}
	recs.sizeBytes = end - start
	recs.chunks = l.chunksFor(v, recs, start, end)
	return true, nil
}

// chunksFor splits [start, end) of v into memory chunks (held batches, the
// tail, cache hits) and merged file sections. The records take a reference
// to every cache block they point into (they hold the held batches' already).
func (l *Log) chunksFor(v *segmentView, recs *Records, start, end int64) []recordsChunk {
	var chunks []recordsChunk
	pos := start
	for _, h := range v.held {
		hEnd := h.pos + int64(len(h.bytes))
		if hEnd <= pos || h.pos >= end {
			continue
		}
		if h.pos < pos || hEnd > end {
			// Reads start and end at batch boundaries, and a held batch is
			// one batch: anything else is a bug.
			panic(fmt.Sprintf("logstore: held batch at %d..%d straddles the read %d..%d", h.pos, hEnd, start, end))
		}
		chunks = l.unheldChunks(chunks, v, recs, pos, h.pos)
		chunks = append(chunks, recordsChunk{mem: h.bytes})
		pos = hEnd
	}
	return l.unheldChunks(chunks, v, recs, pos, end)
}

// unheldChunks appends to chunks those of [start, end) of v, none of it
// held: memory chunks of the tail and cache hits, and merged file sections.
func (l *Log) unheldChunks(chunks []recordsChunk, v *segmentView, recs *Records, start, end int64) []recordsChunk {
	b := l.blockBytes
	addFile := func(pos, stop int64) {
		if n := len(chunks); n > 0 && chunks[n-1].mem == nil && chunks[n-1].section.pos+chunks[n-1].section.n == pos {
			chunks[n-1].section.n += stop - pos
			return
		}
		sv := *v
		sv.tail, sv.tailBlock, sv.held = nil, nil, nil // the records hold the references
		chunks = append(chunks, recordsChunk{section: FileSection{view: sv, pos: pos, n: stop - pos}})
	}
	for pos := start; pos < end; {
		if pos >= v.tailStart {
			chunks = append(chunks, recordsChunk{mem: v.tail[pos-v.tailStart : end-v.tailStart]})
			break
		}
		blockStart := pos &^ (b - 1)
		stop := min(end, blockStart+b, v.tailStart)
		if block := cachedBlock(l.cache, blockCacheKey(v.id, blockStart/b)); block != nil && int64(block.Len()) >= stop-blockStart {
			recs.blocks = append(recs.blocks, block)
			chunks = append(chunks, recordsChunk{mem: block.buf[pos-blockStart : stop-blockStart]})
		} else {
			if block != nil {
				block.Release()
			}
			addFile(pos, stop)
		}
		pos = stop
	}
	return chunks
}

// indexJump finds the furthest index entry past start that a read may skip
// to: every batch before it fits the byte budget and ends below maxOffset.
func indexJump(v *segmentView, start, maxBytes, maxOffset int64) (offsetIndexEntry, bool) {
	i := sort.Search(len(v.index), func(i int) bool { return int64(v.index[i].position) > start })
	var best offsetIndexEntry
	found := false
	for ; i < len(v.index); i++ {
		e := v.index[i]
		if int64(e.position)-start > maxBytes || v.baseOffset+int64(e.relOffset) > maxOffset {
			break
		}
		best, found = e, true
	}
	return best, found
}

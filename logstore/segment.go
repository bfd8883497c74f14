package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync/atomic"

	"go.uber.org/zap"

	"gregor/logstore/vfs"
)

// File name extensions of a segment.
const (
	logFileExt       = ".log"
	indexFileExt     = ".index"
	timeIndexFileExt = ".timeindex"
	deletedFileExt   = ".deleted"
)

// segmentFileName is the 20-digit base offset followed by ext.
func segmentFileName(baseOffset int64, ext string) string {
	return fmt.Sprintf("%020d%s", baseOffset, ext)
}

// segment is one .log file and its indexes. Fields below mu are written by the
// appender under Log.mu held for writing and read by readers under Log.mu held
// for reading (or through a segmentView taken under it).
type segment struct {
	fs         vfs.FS
	dir        string
	baseOffset int64
	logFile    vfs.File
	logger     *zap.Logger
	// refs counts the log's own reference (until deletion) and every reader
	// or Sync holding the segment; the file closes when it drops to zero.
	refs atomic.Int32

	// Published state, guarded by Log.mu.
	id                   uint64
	sizeBytes            int64
	nextOffset           int64
	maxTimestampMs       int64
	offsetOfMaxTimestamp int64
	index                []offsetIndexEntry
	timeIndex            []timeIndexEntry
	// tail holds bytes [tailStart, sizeBytes) of the active segment while
	// the log keeps its tail in memory (log.go: keepTail), with the
	// segment's reference; nil otherwise, or when sizeBytes is tailStart.
	tailStart int64
	tail      *Block
	// recent lists the last batches the appender wrote (recent.go), for
	// reads to find their batches without reading headers back; nil after
	// a truncation.
	recent      []recentBatch
	deleted     bool
	deletedPath string // the .log's name once renamed for deletion

	// Appender-only state.
	createdMs       int64
	bytesSinceIndex int64
	// lastBatch locates the segment's last batch (relative offset and
	// position) when lastBatchKnown, as indexing saw it: writeIndexFiles
	// ends the .index file with an entry for it, the evidence recovery
	// needs to tell a lost tail from a compaction gap (recovery.go).
	lastBatch      offsetIndexEntry
	lastBatchKnown bool
	// preallocEnd is how far the file's blocks are reserved (prealloc.go),
	// as far as the appender knows: 0 after an open, where
	// preallocUnknown says blocks may be reserved past the end all the
	// same (the active segment of a log that stopped without closing).
	// preallocOff says a reservation failed: the segment's appends go on
	// without.
	preallocEnd     int64
	preallocUnknown bool
	preallocOff     bool
}

func (s *segment) logPath() string {
	return path.Join(s.dir, segmentFileName(s.baseOffset, logFileExt))
}

// acquire takes a reference; it fails once the segment is fully released.
func (s *segment) acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the file and, for a deleted
// segment, removes it.
func (s *segment) release() {
	n := s.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic(fmt.Sprintf("logstore: segment %s released more often than acquired", s.logPath()))
	}
	if err := s.logFile.Close(); err != nil {
		s.logger.Warn("close segment failed", zap.String("file", s.logFile.Name()), zap.Error(err))
	}
	if s.tail != nil {
		// Nobody can take a view of the segment any more; views taken
		// earlier hold references of their own.
		s.tail.Release()
		s.tail = nil
	}
	if s.deleted {
		if err := s.fs.Remove(s.deletedPath); err != nil && !errors.Is(err, errNotExist) {
			s.logger.Warn("remove deleted segment failed", zap.String("file", s.deletedPath), zap.Error(err))
		}
	}
}

// segmentView is a reader's consistent snapshot of a segment's published
// state. Its slices are never modified after publication (the appender copies
// them on truncation), so it is used without the log's lock. A view with a
// tail holds a reference to the tail block: release it with releaseTail.
type segmentView struct {
	seg                  *segment
	id                   uint64
	baseOffset           int64
	nextOffset           int64
	sizeBytes            int64
	index                []offsetIndexEntry
	timeIndex            []timeIndexEntry
	tailStart            int64
	tail                 []byte
	tailBlock            *Block
	recent               []recentBatch
	maxTimestampMs       int64
	offsetOfMaxTimestamp int64
	blockBytes           int64
	// active says the segment took appends when the view was taken: its
	// last partial block may still grow.
	active bool
	// held are the held batches a read may send (held.go), each with the
	// view's reference; only a read's view of the active segment has any.
	held []*heldBatch
}

// view snapshots s, with a reference to its tail block; the caller holds
// Log.mu for reading or writing.
func (s *segment) view() segmentView {
	v := segmentView{
		seg: s, id: s.id, baseOffset: s.baseOffset, nextOffset: s.nextOffset, sizeBytes: s.sizeBytes,
		index: s.index[:len(s.index):len(s.index)], timeIndex: s.timeIndex[:len(s.timeIndex):len(s.timeIndex)],
		recent:         s.recent[:len(s.recent):len(s.recent)],
		maxTimestampMs: s.maxTimestampMs, offsetOfMaxTimestamp: s.offsetOfMaxTimestamp,
	}
	if s.tail != nil {
		n := s.sizeBytes - s.tailStart
		s.tail.ref()
		v.tailStart, v.tail, v.tailBlock = s.tailStart, s.tail.buf[:n:n], s.tail
	} else {
		v.tailStart = s.sizeBytes
	}
	return v
}

// releaseTail drops the view's reference to the tail block; the view must
// not read its tail afterwards.
func (v *segmentView) releaseTail() {
	if v.tailBlock != nil {
		v.tailBlock.Release()
		v.tailBlock, v.tail = nil, nil
	}
}

// readAt fills p from position pos, from the tail, the cache or the file, in
// that order of preference. It never reads past the view's size.
func (v *segmentView) readAt(p []byte, pos int64, cache BlockCache, blockBytes int64) error {
	if pos < 0 || pos+int64(len(p)) > v.sizeBytes {
		return fmt.Errorf("%w: segment %s: read of %d bytes at position %d past its %d bytes",
			ErrCorruption, v.seg.logPath(), len(p), pos, v.sizeBytes)
	}
	for len(p) > 0 {
		if pos >= v.tailStart {
			copy(p, v.tail[pos-v.tailStart:])
			return nil
		}
		if n := v.copyHeld(p, pos); n > 0 {
			p, pos = p[n:], pos+int64(n)
			continue
		}
		blockStart := pos &^ (blockBytes - 1)
		if block := cachedBlock(cache, blockCacheKey(v.id, blockStart/blockBytes)); block != nil {
			n := 0
			if int64(block.Len()) > pos-blockStart {
				n = copy(p, block.buf[pos-blockStart:])
			}
			block.Release()
			if n > 0 {
				p, pos = p[n:], pos+int64(n)
				continue
			}
		}
		// Read the rest from the file up to the tail in one call.
		n := int64(len(p))
		if pos+n > v.tailStart {
			n = v.tailStart - pos
		}
		if _, err := v.seg.logFile.ReadAt(p[:n], pos); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			return fmt.Errorf("segment %s: read %d bytes at position %d: %w", v.seg.logPath(), n, pos, err)
		}
		p, pos = p[n:], pos+n
	}
	return nil
}

// copyHeld copies into p what the view's held batches hold from pos on
// (the segment's bytes there) and returns how many bytes: 0 when no held
// batch covers pos. A leader's read for its followers walks the headers of
// the batches it just appended: from their buffers, with no pread(2) each
// (a system call long enough, on a virtual machine, for the Go runtime to
// hand the partition's P off to another thread).
func (v *segmentView) copyHeld(p []byte, pos int64) int {
	i := sort.Search(len(v.held), func(i int) bool { return v.held[i].pos+int64(len(v.held[i].bytes)) > pos })
	if i == len(v.held) || v.held[i].pos > pos {
		return 0
	}
	return copy(p, v.held[i].bytes[pos-v.held[i].pos:])
}

// batchHeader is the part of a stored batch's header that reads need.
type batchHeader struct {
	baseOffset      int64
	sizeBytes       int64
	leaderEpoch     int32
	lastOffsetDelta int32
	maxTimestampMs  int64
	// numRecords is 0 for a batch compaction emptied (kept for its
	// producer's state).
	numRecords int32
}

func (h batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }
func (h batchHeader) nextOffset() int64 { return h.lastOffset() + 1 }

// readBatchHeader reads and sanity-checks the header of the batch at pos. The
// CRC is not checked here (it was checked on append and in recovery).
func (v *segmentView) readBatchHeader(pos int64, cache BlockCache, blockBytes int64) (batchHeader, error) {
	var buf [BatchHeaderBytes]byte
	if pos+BatchHeaderBytes > v.sizeBytes {
		return batchHeader{}, fmt.Errorf("%w: segment %s position %d: batch header past the end (%d bytes)",
			ErrCorruption, v.seg.logPath(), pos, v.sizeBytes)
	}
	if err := v.readAt(buf[:], pos, cache, blockBytes); err != nil {
		return batchHeader{}, err
	}
	h, err := parseBatchHeader(buf[:])
	if err == nil && pos+h.sizeBytes > v.sizeBytes {
		err = fmt.Errorf("%w: batch of %d bytes runs past the segment end %d", ErrCorruption, h.sizeBytes, v.sizeBytes)
	}
	if err == nil && (h.baseOffset < v.baseOffset || h.lastOffset() >= v.nextOffset) {
		err = fmt.Errorf("%w: batch offsets %d..%d outside the segment's %d..%d", ErrCorruption, h.baseOffset, h.lastOffset(), v.baseOffset, v.nextOffset-1)
	}
	if err != nil {
		return batchHeader{}, fmt.Errorf("segment %s position %d: %w", v.seg.logPath(), pos, err)
	}
	return h, nil
}

// parseBatchHeader decodes the fields of a RecordBatch v2 header that the log
// indexes by (p holds at least BatchHeaderBytes).
func parseBatchHeader(p []byte) (batchHeader, error) {
	size, err := BatchSize(p)
	if err != nil {
		return batchHeader{}, err
	}
	if magic := int8(p[batchMagicPos]); magic != 2 {
		return batchHeader{}, fmt.Errorf("%w: magic %d, only 2 is supported", ErrCorruption, magic)
	}
	h := batchHeader{
		baseOffset:      int64(binary.BigEndian.Uint64(p[batchBaseOffsetPos:])),
		sizeBytes:       int64(size),
		leaderEpoch:     int32(binary.BigEndian.Uint32(p[batchLeaderEpochPos:])),
		lastOffsetDelta: int32(binary.BigEndian.Uint32(p[batchLastOffsetDeltaPos:])),
		maxTimestampMs:  int64(binary.BigEndian.Uint64(p[batchMaxTimestampPos:])),
		numRecords:      int32(binary.BigEndian.Uint32(p[batchRecordCountPos:])),
	}
	if h.lastOffsetDelta < 0 {
		return batchHeader{}, fmt.Errorf("%w: last offset delta %d", ErrCorruption, h.lastOffsetDelta)
	}
	return h, nil
}

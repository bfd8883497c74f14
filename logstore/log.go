package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/logstore/vfs"
)

var errNotExist = fs.ErrNotExist

// Options are what Open needs besides the directory's contents.
type Options struct {
	// FS is the filesystem (vfs.OS in production, a vfs.Mem in tests and the
	// simulator).
	FS vfs.FS
	// Dir is the partition directory, e.g. "/data/orders-3".
	Dir string
	// Config is the log configuration; zero fields take Kafka's defaults.
	Config Config
	// Cache is the node's shared block cache; nil disables caching.
	Cache BlockCache
	// BlockPool gives the log its tail and cache blocks, and takes them
	// back when released; one pool serves every log of a node. nil
	// allocates every block.
	BlockPool *BlockPool
	// HoldBudget bounds, with the other logs of the node, the appended
	// bytes the log holds in its producers' buffers (held.go); nil holds
	// none.
	HoldBudget *HoldBudget
	// RawWrites, shared by every log of the node, lets appends write
	// through a raw system call while it has a slot free; nil: none does.
	RawWrites *RawWriteSlots
	// Logger receives recovery and deletion events; nil logs nothing.
	Logger *zap.Logger
	// NowMs is the current time, used as the creation time of segments found
	// on disk (for segment.ms) and of the first segment.
	NowMs int64
	// TopicID is the id of the topic whose log this is: the directory's
	// partition.metadata records it (written when missing), and Open fails
	// with ErrInconsistentTopicID on a directory that records another.
	// The zero id checks and records nothing.
	TopicID [16]byte
}

// Log is one partition's log: an ordered list of segments, the last of which
// (the active segment) takes appends.
//
// Concurrency contract: exactly one goroutine, the appender (the partition
// actor, or the simulator), calls the mutating methods: Append,
// AppendValidated, AppendValidatedHeld, ReleaseHeldBelow, AppendAsFollower, AssignEpochStartOffset, Truncate, TruncateFullyAndStartAt,
// AdvanceLogStartOffset, DeleteRetainedSegments, Tick, ReplaceSegments,
// SetConfig, PlanClean, CommitClean, CleanJob.Abandon and Close;
// CleanJob.Run runs on any goroutine. Any number of other goroutines may
// concurrently call the reading methods (Read, OffsetForTimestamp,
// OffsetOfMaxTimestamp, the offset accessors, Segments, CleanerCheckpoint,
// LatestEpoch, EndOffsetForEpoch, LeaderEpochs) and Sync (as GroupCommitter
// does). The leader-epoch cache is published with the offsets that change
// it, so a reader never sees an entry past the log end offset.
// Sync runs its fsyncs without blocking appends or reads. Close must not
// overlap any other call. Records read before a
// Truncate of the same range may fail or see bytes appended after it, as in
// Kafka (the segment's cache id changes, so cached blocks are never stale).
//
// The Log does no clock reads, starts no goroutines and uses no randomness:
// time arrives as nowMs arguments.
type Log struct {
	// iovecs is the appender's pwritev vector (writev_linux.go).
	iovecs iovecScratch
	// baseOffsets is the array of the last leader append's
	// AppendResult.BaseOffsets, which the next one reuses. Appender-only.
	baseOffsets []int64
	// noPrealloc says the log's filesystem cannot preallocate
	// (prealloc.go); preallocPays that it is one where preallocation pays
	// by default, once preallocChecked. Appender-only.
	noPrealloc      bool
	preallocChecked bool
	preallocPays    bool

	fs  vfs.FS
	dir string
	// isNew says Open made the log's directory: recovery writes no
	// empty checkpoints for it (recover).
	isNew  bool
	cfg    Config // appender-only: SetConfig replaces it
	cache  BlockCache
	logger *zap.Logger
	// codecs decompress records for timestamp lookups and serve the log's
	// clean jobs; safe for concurrent use.
	codecs *Codecs
	// blockBytes is cfg.CacheBlockBytes, fixed at Open: readers use it
	// without the lock.
	blockBytes int64
	// blocks gives the log its blocks (nil: fresh allocations).
	blocks *BlockPool
	// tailAllowed says whether the log may keep its tail in memory: only
	// with a cache, which the tail feeds.
	tailAllowed bool
	// tailRead is set by a read that reached the end of what it may read
	// (a caught-up consumer or follower) and cleared by the appender,
	// which keeps the tail in memory while such reads come (tail.go).
	tailRead atomic.Bool
	// recentWanted is set by the first follower's read (ReadUntailed):
	// from then on the appender lists the batches it writes (recent.go);
	// a log no follower reads keeps no list.
	recentWanted atomic.Bool

	// mu guards the published state below. The appender holds it for writing
	// only to publish; readers hold it for reading only to take views.
	mu             sync.RWMutex
	segments       []*segment // sorted by base offset; the last is active
	logStartOffset int64
	logEndOffset   int64
	flushedOffset  int64
	// cleanerCheckpoint is Kafka's cleaner offset checkpoint: the records
	// below it have been through a completed compaction pass.
	cleanerCheckpoint int64
	// truncations counts truncations, so a Sync that raced one does not
	// claim durability of replaced data.
	truncations uint64
	// epochs is the leader-epoch cache (leader_epoch.go), replaced, never
	// modified, by the appender.
	epochs []EpochEntry

	// syncMu serialises Sync calls.
	syncMu sync.Mutex

	// failed is set by an unrecoverable I/O error (an fsync or a rollback
	// that failed); guarded by mu.
	failed error

	// Appender-only state.
	lastFlushMs            int64
	lastCheckpointMs       int64
	checkpointedRecoveryPt int64
	closed                 bool
	// cleanJob is the job PlanClean handed out and not yet finished.
	cleanJob *CleanJob
	// keepTail says whether the active segment's last block is kept in
	// memory now; lastTailReadMs is when the appender last saw a tail
	// read (tail.go).
	keepTail       bool
	lastTailReadMs int64
	// producers is the producer state of every batch in the log
	// (producer_state.go), snapshotted at segment rolls and clean
	// shutdown.
	producers *ProducerStates
	// aborted are the log's aborted transactions by marker offset
	// (producer_txnindex.go); guarded by mu.
	aborted []AbortedTxn

	// held are the batches of segment heldSegID the log serves from its
	// producers' buffers, by position (held.go); the appender changes the
	// slice under mu, and never an element once listed (readers' views
	// share the array). heldBytes is their size (appender-only).
	holdBudget *HoldBudget
	// rawWrites is Options.RawWrites.
	rawWrites *RawWriteSlots
	held      []*heldBatch
	heldSegID uint64
	heldBytes int64
}

// LogStartOffset is the first offset that may be read (Kafka's log start
// offset, advanced by retention and DeleteRecords).
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStartOffset
}

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEndOffset
}

// FlushedOffset is the offset below which every record is durable (covered by
// a completed fsync).
func (l *Log) FlushedOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.flushedOffset
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// SegmentInfo describes one segment, for retention, compaction and tools.
type SegmentInfo struct {
	// BaseOffset is the segment's first offset (its file name).
	BaseOffset int64
	// NextOffset is one past the last offset the segment holds.
	NextOffset int64
	// SizeBytes is the .log file's size.
	SizeBytes int64
	// MaxTimestampMs is the largest batch max timestamp, or -1 when empty.
	MaxTimestampMs int64
	// LogPath is the .log file's path.
	LogPath string
	// Active says whether this is the active segment (the last).
	Active bool
}

// Segments lists the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	infos := make([]SegmentInfo, len(l.segments))
	for i, s := range l.segments {
		infos[i] = SegmentInfo{
			BaseOffset: s.baseOffset, NextOffset: s.nextOffset, SizeBytes: s.sizeBytes,
			MaxTimestampMs: s.maxTimestampMs, LogPath: s.logPath(), Active: i == len(l.segments)-1,
		}
	}
	return infos
}

// SizeBytes is the total size of all segments.
func (l *Log) SizeBytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.sizeBytes
	}
	return n
}

func (l *Log) active() *segment { return l.segments[len(l.segments)-1] }

// AppendResult is what Append assigned.
type AppendResult struct {
	// BaseOffsets holds each batch's assigned base offset, in order. It is
	// valid until the log's next append: the log reuses its array (one
	// allocation per append otherwise, for an answer read at once).
	BaseOffsets []int64
	// LogEndOffset is the log end offset after the append.
	LogEndOffset int64
}

// Append validates each batch (RecordBatch v2, CRC-32C), assigns consecutive
// offsets from the log end offset by rewriting base offsets in place, stamps
// leaderEpoch as the partition leader epoch, and appends them to the active
// segment, rolling first when segment.bytes or segment.ms says so. A
// leaderEpoch newer than the leader-epoch cache's latest starts an entry at
// the first assigned offset, checkpointed before the records are written.
// The batches must not be modified by the caller afterwards. On any error
// nothing is appended. Errors: kerr.FencedLeaderEpoch when leaderEpoch is
// older than the cache's latest (a deposed leader), kerr.InvalidRecord when
// it is negative, kerr.CorruptMessage for invalid batches,
// kerr.RecordListTooLarge for a batch larger than a segment, and a wrapped
// I/O error (kerr.KafkaStorageError) for a failed write.
func (l *Log) Append(batches [][]byte, leaderEpoch int32, nowMs int64) (AppendResult, error) {
	return l.appendAsLeader(batches, leaderEpoch, nowMs, l.validateBatch)
}

// AppendValidated is Append for batches that each passed ParseBatch (the
// replica core parses a produce's batch before asking for its append): their
// CRC-32C is not computed a second time. The checks that cost nothing are
// still made (the length field against the batch's size, the magic byte, the
// last offset delta, segment.bytes), so a batch whose header changed after
// ParseBatch is refused as by Append; a change in its records is not
// noticed. Follower appends (AppendAsFollower) always check the CRC.
func (l *Log) AppendValidated(batches [][]byte, leaderEpoch int32, nowMs int64) (AppendResult, error) {
	return l.appendAsLeader(batches, leaderEpoch, nowMs, l.checkParsedBatch)
}

// appendAsLeader is Append with each batch checked by validate, which
// returns the batch's last offset delta.
func (l *Log) appendAsLeader(batches [][]byte, leaderEpoch int32, nowMs int64, validate func([]byte) (int32, error)) (AppendResult, error) {
	if err := l.checkAppendable(); err != nil {
		return AppendResult{}, err
	}
	next := l.logEndOffset
	if cap(l.baseOffsets) < len(batches) {
		l.baseOffsets = make([]int64, len(batches), max(len(batches), 8))
	}
	res := AppendResult{BaseOffsets: l.baseOffsets[:len(batches):len(batches)]}
	for i, p := range batches {
		lastOffsetDelta, err := validate(p)
		if err != nil {
			return AppendResult{}, fmt.Errorf("append batch %d of %d: %w", i, len(batches), err)
		}
		if next > math.MaxInt64-int64(lastOffsetDelta)-1 {
			return AppendResult{}, fmt.Errorf("append batch %d: offset overflow: %w", i, kerr.InvalidRecord)
		}
		res.BaseOffsets[i] = next
		next += int64(lastOffsetDelta) + 1
	}
	if len(batches) == 0 {
		return AppendResult{LogEndOffset: l.logEndOffset}, nil
	}
	epochsBefore := l.epochs
	epochs, err := leaderAssign(epochsBefore, leaderEpoch, l.logEndOffset)
	if err == nil {
		err = l.checkpointEpochsBeforeAppend(epochsBefore, epochs)
	}
	if err != nil {
		return AppendResult{}, fmt.Errorf("append at leader epoch %d: %w", leaderEpoch, err)
	}
	for i, p := range batches {
		SetBatchBaseOffset(p, res.BaseOffsets[i])
		SetBatchLeaderEpoch(p, leaderEpoch)
	}
	if err := l.writeAndPublish(batches, epochsBefore, epochs, nowMs); err != nil {
		return AppendResult{}, err
	}
	res.LogEndOffset = l.logEndOffset
	return res, nil
}

// AppendAsFollower appends batches that already carry their offsets and leader
// epochs (a follower copying its leader). Each batch's base offset must be at
// or above the previous batch's next offset, starting at the log end offset
// (gaps come from compaction). A batch whose epoch is newer than the
// leader-epoch cache's latest starts an entry where the gap before it starts
// (at its base offset when there is none; see leader_epoch.go for an older
// epoch). Kafka starts it at the batch's base offset; but the batches in the
// gap, which compaction dropped on the leader, may have been that epoch's
// first (or a whole epoch's), and an entry that starts too late makes this
// replica, once it leads, answer OffsetsForLeaderEpoch with an end offset too
// high for the epoch before: a follower holding a batch of that older epoch
// from another history at those offsets keeps it, and the logs diverge
// (simulator seeds 1178 and 1450 with three minutes of faults). Starting the
// entry early can only make a follower truncate more, into offsets the
// leader holds no records at. Errors as for Append, but no epoch is refused:
// the leader's log is the truth.
func (l *Log) AppendAsFollower(batches [][]byte, nowMs int64) (int64, error) {
	if err := l.checkAppendable(); err != nil {
		return 0, err
	}
	epochsBefore := l.epochs
	epochs := epochsBefore
	next := l.logEndOffset
	for i, p := range batches {
		b, err := l.parseBatch(p)
		if err != nil {
			return 0, fmt.Errorf("append batch %d of %d as follower: %w", i, len(batches), err)
		}
		if b.FirstOffset < next {
			return 0, fmt.Errorf("append batch %d as follower: base offset %d below expected %d: %w",
				i, b.FirstOffset, next, kerr.InvalidRecord)
		}
		// A new epoch starts where the gap before its first batch starts:
		// compaction on the leader may have dropped that epoch's first
		// batches (see AppendAsFollower's doc).
		epochs = followerAssign(epochs, b.PartitionLeaderEpoch, next)
		next = b.NextOffset()
	}
	if err := l.checkpointEpochsBeforeAppend(epochsBefore, epochs); err != nil {
		return 0, fmt.Errorf("append as follower: %w", err)
	}
	if err := l.writeAndPublish(batches, epochsBefore, epochs, nowMs); err != nil {
		return 0, err
	}
	return l.logEndOffset, nil
}

func (l *Log) checkAppendable() error {
	if l.closed {
		return errors.New("logstore: append to a closed log")
	}
	if err := l.failure(); err != nil {
		return fmt.Errorf("log %s failed earlier and must be reopened: %w: %w", l.dir, ErrFailed, err)
	}
	return nil
}

// failure is the error that failed the log, if any.
func (l *Log) failure() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.failed
}

// fail records the first unrecoverable error; the log then refuses appends.
func (l *Log) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		l.failed = err
	}
}

// validateBatch checks p in full (ParseBatch, CRC included) and against
// segment.bytes, and returns its last offset delta.
func (l *Log) validateBatch(p []byte) (int32, error) {
	b, err := l.parseBatch(p)
	return b.LastOffsetDelta, err
}

// parseBatch is ParseBatch with the log's errors, and the segment.bytes check.
func (l *Log) parseBatch(p []byte) (Batch, error) {
	b, err := ParseBatch(p)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	}
	if err := l.checkBatchFits(p); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// checkParsedBatch makes validateBatch's checks that need no pass over the
// records, for a batch that already passed ParseBatch.
func (l *Log) checkParsedBatch(p []byte) (int32, error) {
	if len(p) < BatchHeaderBytes {
		return 0, fmt.Errorf("%w: %w: %d bytes, shorter than a batch header", kerr.CorruptMessage, ErrCorruption, len(p))
	}
	h, err := parseBatchHeader(p)
	if err == nil && h.sizeBytes != int64(len(p)) {
		err = fmt.Errorf("%w: length field says %d bytes, have %d", ErrCorruption, h.sizeBytes, len(p))
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	}
	if err := l.checkBatchFits(p); err != nil {
		return 0, err
	}
	return h.lastOffsetDelta, nil
}

func (l *Log) checkBatchFits(p []byte) error {
	if int64(len(p)) > l.cfg.SegmentBytes {
		return fmt.Errorf("batch of %d bytes exceeds segment.bytes %d: %w", len(p), l.cfg.SegmentBytes, kerr.RecordListTooLarge)
	}
	return nil
}

// writeAndPublish writes validated batches with final offsets to the active
// segment (rolling first if needed), then publishes them with epochs, the
// leader-epoch cache that covers them (its checkpoint already written). If
// the records cannot be written, the checkpoint goes back to epochsBefore.
func (l *Log) writeAndPublish(batches [][]byte, epochsBefore, epochs []EpochEntry, nowMs int64) error {
	if len(batches) == 0 {
		return nil
	}
	l.updateTailPolicy(nowMs)
	seg, start, err := l.writeBatches(batches, nowMs)
	if err != nil {
		l.restoreEpochCheckpoint(epochsBefore, epochs)
		return err
	}
	l.publishAppend(seg, batches, start, epochs)
	if l.producers != nil {
		for _, p := range batches {
			if done, ended := l.producers.Apply(ReadProducerBatchInfo(p)); ended {
				l.noteCompletedTxn(seg, done)
			}
		}
	}
	if l.logEndOffset-l.FlushedOffset() >= l.cfg.FlushMessages {
		if err := l.Sync(); err != nil {
			return fmt.Errorf("flush after append (flush.messages %d): %w", l.cfg.FlushMessages, err)
		}
		l.lastFlushMs = nowMs
	}
	return nil
}

// writeBatches writes the batches after the active segment's end (rolling
// first if needed) and returns that segment and where they start. On error
// nothing of them is left in the file.
func (l *Log) writeBatches(batches [][]byte, nowMs int64) (*segment, int64, error) {
	var total int64
	for _, p := range batches {
		total += int64(len(p))
	}
	if l.shouldRoll(total, batches, nowMs) {
		// The new segment starts at the log end offset even when a
		// follower's batch starts past it, so consecutive segments meet
		// unless compaction emptied the end of the earlier one.
		if err := l.roll(l.logEndOffset, nowMs); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
		}
	}
	seg := l.active()
	start := seg.sizeBytes
	if len(batches) > 0 {
		l.preallocate(seg, start+total)
		// One system call for all the batches (many in a follower's
		// append of a fetched response), and a raw one when a slot is
		// free (writev_linux.go), where the file allows it.
		if handled, err := writeVectored(seg.logFile, batches, start, &l.iovecs, l.rawWrites); handled {
			if err != nil {
				return nil, 0, l.failedWrite(seg, start, fmt.Errorf("append %d batches (%d bytes) to %s at position %d: %w: %w",
					len(batches), total, seg.logPath(), start, kerr.KafkaStorageError, err))
			}
			return seg, start, nil
		}
	}
	pos := start
	for _, p := range batches {
		if _, err := seg.logFile.WriteAt(p, pos); err != nil {
			return nil, 0, l.failedWrite(seg, start, fmt.Errorf("append %d bytes to %s at position %d: %w: %w", len(p), seg.logPath(), pos, kerr.KafkaStorageError, err))
		}
		pos += int64(len(p))
	}
	return seg, start, nil
}

// failedWrite truncates seg back to start after a failed append (werr), so
// that nothing of the append stays in the file; a log that cannot truncate
// fails for good.
func (l *Log) failedWrite(seg *segment, start int64, werr error) error {
	seg.preallocEnd, seg.preallocUnknown = min(seg.preallocEnd, start), false // the truncation frees what lay past start
	if terr := seg.logFile.Truncate(start); terr != nil {
		ferr := fmt.Errorf("truncate %s back to %d after a failed append: %w", seg.logPath(), start, terr)
		l.fail(ferr)
		return fmt.Errorf("%w (and %v)", werr, ferr)
	}
	return werr
}

// shouldRoll says whether the active segment must roll before the batches:
// it is not empty and either segment.bytes or segment.ms (or, compacting,
// max.compaction.lag.ms) is reached, or the batches' offsets would not fit
// the 32-bit relative index.
func (l *Log) shouldRoll(totalBytes int64, batches [][]byte, nowMs int64) bool {
	seg := l.active()
	if seg.sizeBytes == 0 {
		return false
	}
	last, err := parseBatchHeader(batches[len(batches)-1])
	if err != nil {
		panic(fmt.Sprintf("logstore: validated batch has a bad header: %v", err))
	}
	return seg.sizeBytes+totalBytes > l.cfg.SegmentBytes ||
		nowMs-seg.createdMs >= l.cfg.activeSegmentMaxAgeMs() ||
		last.lastOffset()-seg.baseOffset > math.MaxUint32
}

// publishAppend indexes the batches written at start and makes them visible,
// with the leader-epoch cache that covers them (so readers never see an
// entry past the log end offset).
func (l *Log) publishAppend(seg *segment, batches [][]byte, start int64, epochs []EpochEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epochs = epochs
	pos := start
	for _, p := range batches {
		h, err := parseBatchHeader(p)
		if err != nil {
			panic(fmt.Sprintf("logstore: validated batch has a bad header: %v", err))
		}
		l.indexBatch(seg, h, pos)
		if l.recentWanted.Load() {
			noteRecent(seg, h, pos)
		}
		l.appendTail(seg, p)
		pos += int64(len(p))
		seg.sizeBytes = pos
		seg.nextOffset = h.nextOffset()
	}
	l.logEndOffset = seg.nextOffset
}

// indexBatch adds index entries for the batch h at pos, as the appender or
// recovery sees it (caller holds mu for writing, or owns seg exclusively).
func (l *Log) indexBatch(seg *segment, h batchHeader, pos int64) {
	indexBatchEvery(seg, h, pos, l.cfg.IndexIntervalBytes)
}

// indexBatchEvery is indexBatch with an index entry every intervalBytes (the
// cleaner indexes with the interval it was planned with).
func indexBatchEvery(seg *segment, h batchHeader, pos, intervalBytes int64) {
	rel := uint32(h.baseOffset - seg.baseOffset)
	if seg.bytesSinceIndex >= intervalBytes && pos > 0 {
		seg.index = append(seg.index, offsetIndexEntry{relOffset: rel, position: uint32(pos)})
		seg.bytesSinceIndex = 0
		if n := len(seg.timeIndex); seg.maxTimestampMs >= 0 && (n == 0 || seg.timeIndex[n-1].timestampMs < seg.maxTimestampMs) {
			seg.timeIndex = append(seg.timeIndex, timeIndexEntry{
				timestampMs: seg.maxTimestampMs, relOffset: uint32(seg.offsetOfMaxTimestamp - seg.baseOffset),
			})
		}
	}
	seg.bytesSinceIndex += h.sizeBytes
	seg.lastBatch, seg.lastBatchKnown = offsetIndexEntry{relOffset: rel, position: uint32(pos)}, true
	if h.maxTimestampMs > seg.maxTimestampMs {
		seg.maxTimestampMs = h.maxTimestampMs
		seg.offsetOfMaxTimestamp = h.baseOffset
	}
}

// appendTail copies p into the active segment's in-memory tail block, handing
// each block that fills to the cache (caller holds mu for writing). While
// the log keeps no tail (no cache, or no reader caught up: tail.go), readers
// of fresh data read the file (the kernel's page cache), and appends skip
// the copy.
func (l *Log) appendTail(seg *segment, p []byte) {
	if !l.keepTail {
		return
	}
	b := l.blockBytes
	for len(p) > 0 {
		if seg.tail == nil {
			seg.tail = l.blocks.get(int(b))
		}
		t := seg.tail
		n := copy(t.buf[len(t.buf):cap(t.buf)], p)
		t.buf = t.buf[:len(t.buf)+n]
		p = p[n:]
		if int64(len(t.buf)) == b {
			cacheBlock(l.cache, blockCacheKey(seg.id, seg.tailStart/b), t)
			seg.tailStart += b
			seg.tail = nil
		}
	}
}

// roll closes the active segment for appends and starts a new one at
// baseOffset: the old segment's index files are written and synced, then the
// new file is created and the directory synced so the new segment survives a
// crash. The old segment's data is not synced here (the next Sync does it):
// its index files, durable before the new segment exists, name its last
// batch, so that recovery can tell a segment that lost its tail from one
// that compaction left ending early (recovery.go, loadSegments).
func (l *Log) roll(baseOffset int64, nowMs int64) error {
	l.writeProducerSnapshot()
	old := l.active()
	if err := l.writeIndexFiles(old); err != nil {
		return err
	}
	// Before the next segment exists: a crash then leaves a reservation
	// past the active segment's end only (prealloc.go).
	l.trimPrealloc(old)
	seg, err := l.createSegment(baseOffset, nowMs)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old.tail != nil {
		cacheBlock(l.cache, blockCacheKey(old.id, old.tailStart/l.blockBytes), old.tail)
	}
	old.tail = nil
	old.tailStart = old.sizeBytes
	old.recent = nil // views keep their own; a rolled segment's reads walk its index
	l.segments = append(l.segments, seg)
	return nil
}

// createSegment creates an empty .log file for baseOffset and syncs the
// directory. On failure it removes the file again: the log goes on in its
// active segment, past baseOffset, and a file left behind would be a
// segment starting inside that one at the next open (recovery would cut
// the log there, losing the records appended since).
func (l *Log) createSegment(baseOffset int64, nowMs int64) (*segment, error) {
	seg := l.newSegment(baseOffset, nowMs)
	f, err := l.fs.OpenFile(seg.logPath(), osCreateFlags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", seg.logPath(), err)
	}
	if err := emptyFile(f); err != nil {
		_ = f.Close()
		return nil, l.abandonSegmentFile(seg, fmt.Errorf("empty segment %s: %w", seg.logPath(), err))
	}
	seg.logFile = f
	if err := l.fs.SyncDir(l.dir); err != nil {
		_ = f.Close()
		return nil, l.abandonSegmentFile(seg, fmt.Errorf("sync directory %s after creating %s: %w", l.dir, seg.logPath(), err))
	}
	return seg, nil
}

// emptyFile truncates f to nothing if it holds bytes (a file left behind
// where a new segment goes), and leaves an empty file alone: on ext4 a
// truncation to size 0 marks the file to have all its delayed
// allocations written back when it is closed (auto_da_alloc), so every
// segment truncated when it was created was written to disk in full by
// its close, whatever the flush policy: a topic's deletion, a retention
// delete or a replica's stop wrote out data about to be unlinked, in the
// closing goroutine (26-64 ms to close a file of 200 MiB so truncated,
// against microseconds untruncated).
func emptyFile(f vfs.File) error {
	size, err := f.Size()
	if err != nil || size == 0 {
		return err
	}
	return f.Truncate(0)
}

// abandonSegmentFile removes the file of a segment that could not be
// created and returns err; a file that cannot be removed either fails the
// log, which then writes nothing more (recovery at the next open would
// take the file for a segment).
func (l *Log) abandonSegmentFile(seg *segment, err error) error {
	if rerr := l.fs.Remove(seg.logPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		ferr := fmt.Errorf("remove %s after a failed roll: %w", seg.logPath(), rerr)
		l.fail(ferr)
		return fmt.Errorf("%w (and %v)", err, ferr)
	}
	return err
}

func (l *Log) newSegment(baseOffset int64, nowMs int64) *segment {
	seg := &segment{
		fs: l.fs, dir: l.dir, baseOffset: baseOffset, logger: l.logger,
		id: l.cache.NewSegmentID(), nextOffset: baseOffset, maxTimestampMs: -1, offsetOfMaxTimestamp: -1,
		createdMs: nowMs,
	}
	seg.refs.Store(1)
	return seg
}

// writeIndexFiles writes seg's .index and .timeindex and syncs them. The
// .index ends with an entry for the segment's last batch, the .timeindex
// with one for its max timestamp: at a roll these name the batches the
// segment held when the next one began, which recovery checks a segment
// that ends before the next one's base offset against (recovery.go).
func (l *Log) writeIndexFiles(seg *segment) error {
	for _, f := range l.indexFiles(seg) {
		if err := writeFileAtomic(l.fs, path.Join(l.dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// indexFiles renders seg's .index and .timeindex as writeIndexFiles writes
// them.
func (l *Log) indexFiles(seg *segment) []namedFile {
	l.mu.RLock()
	index := seg.index
	if n := len(index); seg.lastBatchKnown && (n == 0 || index[n-1].relOffset < seg.lastBatch.relOffset) {
		index = append(index[:n:n], seg.lastBatch)
	}
	timeIndex := seg.timeIndex
	if n := len(timeIndex); seg.maxTimestampMs >= 0 && (n == 0 || timeIndex[n-1].timestampMs < seg.maxTimestampMs) {
		timeIndex = append(timeIndex[:n:n], timeIndexEntry{
			timestampMs: seg.maxTimestampMs, relOffset: uint32(seg.offsetOfMaxTimestamp - seg.baseOffset),
		})
	}
	l.mu.RUnlock()
	return []namedFile{
		{segmentFileName(seg.baseOffset, indexFileExt), encodeOffsetIndex(index)},
		{segmentFileName(seg.baseOffset, timeIndexFileExt), encodeTimeIndex(timeIndex)},
	}
}

// namedFile is a file's name in the log's directory and its content.
type namedFile struct {
	name string
	data []byte
}

// segmentIndexFor returns the index in segs of the segment holding offset:
// the last one whose base offset is at or below it (0 if none).
func segmentIndexFor(segs []*segment, offset int64) int {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > offset })
	if i == 0 {
		return 0
	}
	return i - 1
}

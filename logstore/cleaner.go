package logstore

// The segment-level log cleaner (Kafka's LogCleaner), in three steps so that
// it never blocks appends:
//
//   - PlanClean, on the appender, is cheap: it decides from in-memory segment
//     sizes whether the log is due (cleanup.policy has compact, the dirty
//     ratio reaches min.cleanable.dirty.ratio or max.compaction.lag.ms has
//     passed) and hands out a CleanJob holding references to the closed
//     segments from the log start to the end of the cleanable part, so that
//     retention or truncation cannot close their files meanwhile.
//   - CleanJob.Run, on any goroutine, does the I/O: it maps the dirty part's
//     keys to their latest offsets, then writes, for each group of
//     consecutive segments that fits one segment, a cleaned copy
//     "<base>.log.cleaned" with filterBatch and the map's Keep, indexes it in
//     memory and fsyncs it. It reads only the files of the segments it holds
//     and the settings captured by PlanClean.
//   - CommitClean, on the appender, swaps the groups in, oldest first, with
//     the atomic .cleaned → .swap → .log replace of ReplaceSegments, and
//     advances the cleaner checkpoint. A group whose segments retention
//     deleted meanwhile is dropped; if any group's segments changed
//     otherwise (truncation, a partial deletion), nothing is swapped.
//     Abandon gives a job up instead.
//
// The cleaner checkpoint (cleaner-offset-checkpoint in the partition
// directory) is the offset below which every record has been through a
// completed pass. Its invariant makes dropping an old tombstone safe: a
// tombstone below it has had every older record of its key removed. It only
// advances over groups that were swapped in (or deleted), and truncation
// lowers it, durably, before cutting.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"sync"

	"go.uber.org/zap"
)

const (
	// cleanerCheckpointFile holds the cleaner checkpoint.
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	// cleanedFileExt ends a cleaned segment being written,
	// "<base>.log.cleaned"; recovery deletes these.
	cleanedFileExt = ".cleaned"
	// DefaultCleanerMaxKeys is the key offset map bound when
	// CleanerOptions.MaxKeys is zero.
	DefaultCleanerMaxKeys = 1 << 20
	// CleanerThrottleChunkBytes is the most CleanJob.Run asks a
	// CleanerThrottle for at once: a rate limiter's burst must be at least
	// this.
	CleanerThrottleChunkBytes = 64 << 10
)

// CleanerThrottle paces the cleaner's I/O (Kafka's
// log.cleaner.io.max.bytes.per.second): WaitN blocks until n more bytes may
// be read or written, or ctx is done. A *rate.Limiter from
// golang.org/x/time/rate satisfies it; share one across a node's cleaners.
type CleanerThrottle interface {
	WaitN(ctx context.Context, n int) error
}

// CleanerOptions are the node-wide cleaner settings CleanJob.Run takes.
type CleanerOptions struct {
	// MaxKeys bounds the key offset map (Kafka sizes it with
	// log.cleaner.dedupe.buffer.size): a pass whose dirty part holds more
	// keys (or idempotent producers) cleans up to where the map filled and
	// leaves the rest for the next pass. Zero means DefaultCleanerMaxKeys.
	MaxKeys int
	// Throttle, if not nil, paces every read and write.
	Throttle CleanerThrottle
}

// CleanStats describes a clean job, for metrics and logs.
type CleanStats struct {
	// FirstDirtyOffset is where the dirty part began: the cleaner
	// checkpoint, or the log start offset if later.
	FirstDirtyOffset int64
	// DirtyRatio is the dirty share of the cleanable bytes when planned.
	DirtyRatio float64
	// ForcedByMaxCompactionLag says the job was planned below
	// min.cleanable.dirty.ratio because max.compaction.lag.ms had passed.
	ForcedByMaxCompactionLag bool
	// CleanedUpToOffset is the cleaner checkpoint the job earns if every
	// group is swapped in (set by Run).
	CleanedUpToOffset int64
	// BytesRead and BytesWritten count segment bytes Run read (the key map
	// pass and the rewrite) and wrote.
	BytesRead, BytesWritten int64
	// RecordsKept and RecordsRemoved count the records Run filtered;
	// BatchesRemoved counts batches left with no record and dropped.
	RecordsKept, RecordsRemoved, BatchesRemoved int64
	// SegmentsReplaced counts the segments CommitClean swapped out.
	SegmentsReplaced int
	// GroupsDiscarded counts cleaned groups CommitClean threw away because
	// retention, truncation or DeleteRecords changed their segments.
	GroupsDiscarded int
}

// cleanJobState is where a CleanJob is in its life.
type cleanJobState int

const (
	cleanJobPlanned    cleanJobState = iota // PlanClean returned it
	cleanJobRunning                         // Run is executing
	cleanJobRan                             // Run succeeded; CommitClean may swap
	cleanJobFailed                          // Run failed; only Abandon is left
	cleanJobCommitting                      // CommitClean is swapping
	cleanJobFinished                        // committed or abandoned; nothing held
)

func (s cleanJobState) String() string {
	return [...]string{"planned", "running", "ran", "failed", "committing", "finished"}[s]
}

// CleanJob is one compaction pass over a log, from PlanClean to CommitClean
// or Abandon. Its segments stay open until then, so the caller must finish
// every job: Close abandons an outstanding one (if Run is executing, Run
// stops early and releases everything when it returns).
type CleanJob struct {
	log *Log // Run uses only its fields fixed at Open (fs, dir, logger)

	// Settings and segments captured by PlanClean; read-only afterwards.
	nowMs              int64
	deleteRetentionMs  int64
	segmentBytes       int64
	indexIntervalBytes int64
	sources            []cleanSource
	firstDirtyOffset   int64
	// aborted are the aborted transactions whose records the sources may
	// hold: the cleaner drops those records (producer_clean.go).
	aborted []AbortedTxn
	// txnKept says, per producer, whether Run kept a batch of the
	// transaction it is in the middle of (producer_clean.go).
	txnKept map[int64]bool

	mu        sync.Mutex
	state     cleanJobState
	cancel    context.CancelFunc // set while Run executes
	abandoned bool               // Abandon called while Run executed
	released  bool               // the sources' references are dropped
	// groups and stats are written by Run (or CommitClean) while it owns
	// the job (running or committing), and read after it returns.
	groups []*cleanedGroup
	stats  CleanStats
}

// cleanSource is a closed segment a job reads, as PlanClean saw it.
type cleanSource struct {
	seg        *segment
	id         uint64
	baseOffset int64
	nextOffset int64
	sizeBytes  int64
}

// cleanedGroup is consecutive sources and the cleaned segment Run wrote for
// them. fresh is nil when the cleaned copy would equal the input (nothing to
// swap) and once CommitClean handed it to the log.
type cleanedGroup struct {
	sources []cleanSource
	path    string
	fresh   *segment
}

func (g *cleanedGroup) baseOffset() int64 { return g.sources[0].baseOffset }
func (g *cleanedGroup) endOffset() int64  { return g.sources[len(g.sources)-1].nextOffset }

// Stats describes the job so far. Call it after Run or CommitClean returned.
func (j *CleanJob) Stats() CleanStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// finished says whether the job holds nothing any more.
func (j *CleanJob) finished() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state == cleanJobFinished
}

// CleanerCheckpoint is the offset below which every record has been through
// a completed compaction pass (Kafka's cleaner offset checkpoint), or the log
// start offset if that is later.
func (l *Log) CleanerCheckpoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return max(l.cleanerCheckpoint, l.logStartOffset)
}

// cleanablePart is the closed segments a pass may read, split at the first
// dirty one.
type cleanablePart struct {
	sources          []cleanSource
	firstDirty       int // index in sources of the first dirty segment, -1 if none
	firstDirtyOffset int64
	cleanBytes       int64
	dirtyBytes       int64
}

func (p *cleanablePart) dirtyRatio() float64 {
	if p.dirtyBytes == 0 {
		return 0
	}
	return float64(p.dirtyBytes) / float64(p.cleanBytes+p.dirtyBytes)
}

// cleanablePart lists the closed segments from the log start up to the
// first that holds an offset at or past maxOffset or whose largest
// timestamp is younger than min.compaction.lag.ms (caller holds mu).
func (l *Log) cleanablePart(nowMs, maxOffset int64) cleanablePart {
	p := cleanablePart{firstDirty: -1, firstDirtyOffset: max(l.cleanerCheckpoint, l.logStartOffset)}
	for _, s := range l.segments[:len(l.segments)-1] {
		if s.nextOffset <= l.logStartOffset {
			continue // retention deletes it next
		}
		if s.nextOffset > maxOffset || (l.cfg.MinCompactionLagMs > 0 && s.maxTimestampMs > nowMs-l.cfg.MinCompactionLagMs) {
			break
		}
		if s.nextOffset <= p.firstDirtyOffset {
			p.cleanBytes += s.sizeBytes
		} else {
			p.dirtyBytes += s.sizeBytes
			if p.firstDirty < 0 {
				p.firstDirty = len(p.sources)
			}
		}
		p.sources = append(p.sources, cleanSource{seg: s, id: s.id, baseOffset: s.baseOffset, nextOffset: s.nextOffset, sizeBytes: s.sizeBytes})
	}
	return p
}

// CleanableDirtyRatio is the share of the cleanable segments' bytes past the
// cleaner checkpoint (0 when nothing is cleanable): what PlanClean compares
// with min.cleanable.dirty.ratio, for metrics (Kafka's max-dirty-percent).
// nowMs and maxOffset are as for PlanClean. Call it from the appender.
func (l *Log) CleanableDirtyRatio(nowMs, maxOffset int64) float64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segments) == 0 {
		return 0
	}
	p := l.cleanablePart(nowMs, maxOffset)
	return p.dirtyRatio()
}

// PlanClean returns a compaction job when the log is due one: cleanup.policy
// includes compact, no other job is outstanding, and the closed segments
// below maxOffset (pass the last stable offset; LogEndOffset to ignore it;
// the log's own first unstable offset bounds it too, as Kafka's cleaner
// stops there, so that every transaction the job sees is decided) and
// older than min.compaction.lag.ms hold dirty bytes (past the cleaner
// checkpoint) making up at least min.cleanable.dirty.ratio of them, or the
// dirty part's first batch is older than max.compaction.lag.ms. The active
// segment is never cleaned. The job captures the current settings and holds
// the segments it will read; run it with Run, then CommitClean or Abandon it.
// Call it from the appender.
func (l *Log) PlanClean(nowMs, maxOffset int64) (*CleanJob, bool) {
	if l.closed || !l.cfg.CleanupPolicyCompact || l.failure() != nil {
		return nil, false
	}
	if l.cleanJob != nil {
		if !l.cleanJob.finished() {
			return nil, false
		}
		l.cleanJob = nil
	}
	if l.producers != nil {
		if first, open := l.producers.FirstUnstableOffset(); open {
			maxOffset = min(maxOffset, first)
		}
	}
	l.mu.RLock()
	p := l.cleanablePart(nowMs, maxOffset)
	var firstDirty segmentView
	if p.firstDirty >= 0 {
		firstDirty = p.sources[p.firstDirty].seg.view()
		firstDirty.blockBytes = l.blockBytes
	}
	l.mu.RUnlock()
	if p.dirtyBytes == 0 {
		firstDirty.releaseTail()
		return nil, false
	}
	ratio := p.dirtyRatio()
	forced := false
	if ratio < l.cfg.MinCleanableDirtyRatio {
		forced = l.pastMaxCompactionLag(&firstDirty, nowMs)
	}
	firstDirty.releaseTail()
	if ratio < l.cfg.MinCleanableDirtyRatio && !forced {
		return nil, false
	}
	for _, src := range p.sources {
		if !src.seg.acquire() {
			panic(fmt.Sprintf("logstore: listed segment %s is already closed", src.seg.logPath()))
		}
	}
	j := &CleanJob{
		log: l, nowMs: nowMs, deleteRetentionMs: l.cfg.DeleteRetentionMs,
		segmentBytes: l.cfg.SegmentBytes, indexIntervalBytes: l.cfg.IndexIntervalBytes,
		sources: p.sources, firstDirtyOffset: p.firstDirtyOffset,
		aborted: l.AbortedTransactions(p.sources[0].baseOffset, p.sources[len(p.sources)-1].nextOffset),
		stats:   CleanStats{FirstDirtyOffset: p.firstDirtyOffset, DirtyRatio: ratio, ForcedByMaxCompactionLag: forced},
	}
	l.cleanJob = j
	return j, true
}

// pastMaxCompactionLag says whether the first batch of v, the first dirty
// segment, is older than max.compaction.lag.ms (Kafka looks at the first
// batch's max timestamp too). It reads one batch header.
func (l *Log) pastMaxCompactionLag(v *segmentView, nowMs int64) bool {
	if l.cfg.MaxCompactionLagMs == math.MaxInt64 || v.sizeBytes == 0 {
		return false
	}
	h, err := v.readBatchHeader(0, l.cache, l.blockBytes)
	if err != nil {
		l.logger.Warn("cannot read the first dirty batch for max.compaction.lag.ms", zap.Error(err))
		return false
	}
	return h.maxTimestampMs >= 0 && h.maxTimestampMs < addSaturating(nowMs, -l.cfg.MaxCompactionLagMs)
}

// CommitClean swaps in the groups j.Run cleaned, oldest first (each as
// ReplaceSegments does, atomically), and advances the cleaner checkpoint over
// them. A group whose segments retention or DeleteRecords deleted since
// PlanClean is dropped; if the segments of any group changed otherwise
// (truncation, or deletion of part of a group), the whole pass is dropped
// and the next one starts over. Whatever the outcome, the job is finished
// when CommitClean returns: its segments are released and its leftover files
// removed. An error does not mean the log is unchanged: the groups swapped in
// before the one that failed stay, and so does that one if it failed after
// its fresh segment replaced the old ones (writing its index files, say). A
// job whose Run did not succeed is abandoned with an error. Call it from the
// appender.
func (l *Log) CommitClean(j *CleanJob) error {
	if j.log != l {
		return fmt.Errorf("commit clean job: the job belongs to log %s, not %s", j.log.dir, l.dir)
	}
	j.mu.Lock()
	state := j.state
	if state == cleanJobRan {
		j.state = cleanJobCommitting
	}
	j.mu.Unlock()
	if state != cleanJobRan {
		j.Abandon()
		return fmt.Errorf("commit clean job of %s: the job is %s, not run", l.dir, state)
	}
	defer func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.discardLocked()
		j.state = cleanJobFinished
		if l.cleanJob == j {
			l.cleanJob = nil
		}
	}()
	if err := l.checkAppendable(); err != nil {
		return fmt.Errorf("commit clean job: %w", err)
	}
	checkpoint, err := l.swapInGroups(j)
	if l.failure() != nil {
		return err
	}
	checkpoint = min(max(checkpoint, l.cleanerCheckpoint), l.LogEndOffset())
	if checkpoint != l.cleanerCheckpoint {
		if werr := l.writeCheckpoint(cleanerCheckpointFile, checkpoint); werr != nil {
			return errors.Join(err, fmt.Errorf("commit clean job: cleaner checkpoint %d: %w", checkpoint, werr))
		}
		l.mu.Lock()
		l.cleanerCheckpoint = checkpoint
		l.mu.Unlock()
	}
	return err
}

// swapInGroups swaps j's groups in, oldest first, and returns the cleaner
// checkpoint that earns. If any group's segments changed other than by
// deletion from the front of the log, it swaps nothing: a truncation may
// have removed records that the key map holds (and that shadow older
// records of intact groups), and the remnant of a partly deleted group may
// hold older values of keys whose tombstones later groups dropped.
func (l *Log) swapInGroups(j *CleanJob) (int64, error) {
	for _, g := range j.groups {
		if l.groupStatus(g) == groupChanged {
			j.stats.GroupsDiscarded = len(j.groups)
			l.logger.Info("segments changed during compaction, dropping the pass",
				zap.Int64("base_offset", g.baseOffset()), zap.Int("groups", len(j.groups)))
			return l.cleanerCheckpoint, nil
		}
	}
	for i, g := range j.groups {
		if l.groupStatus(g) == groupDeleted {
			j.stats.GroupsDiscarded++
			continue
		}
		if g.fresh == nil {
			continue // cleaning changed nothing
		}
		fresh := g.fresh
		g.fresh = nil // swapInCleaned closes it or lists it
		if err := l.swapInCleaned(g.baseOffset(), g.endOffset(), g.path, fresh); err != nil {
			// The groups before are swapped: everything below this one
			// is clean.
			j.stats.GroupsDiscarded += len(j.groups) - i
			return g.baseOffset(), fmt.Errorf("commit clean job: %w", err)
		}
		g.path = ""
		j.stats.SegmentsReplaced += len(g.sources)
	}
	return j.stats.CleanedUpToOffset, nil
}

// cleanedGroupStatus is what became of a group's segments since PlanClean.
type cleanedGroupStatus int

const (
	groupIntact  cleanedGroupStatus = iota // listed, closed and unchanged
	groupDeleted                           // all deleted from the front of the log
	groupChanged                           // anything else
)

// groupStatus compares g's segments with the listed ones.
func (l *Log) groupStatus(g *cleanedGroup) cleanedGroupStatus {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if g.endOffset() <= l.segments[0].baseOffset {
		return groupDeleted
	}
	first := segmentIndexFor(l.segments, g.baseOffset())
	for k, src := range g.sources {
		i := first + k
		if i >= len(l.segments)-1 {
			return groupChanged // gone, or now the active segment
		}
		s := l.segments[i]
		if s != src.seg || s.id != src.id || s.sizeBytes != src.sizeBytes || s.nextOffset != src.nextOffset {
			return groupChanged
		}
	}
	return groupIntact
}

// Abandon gives the job up: it releases the segments and removes the cleaned
// files. If Run is executing, Run stops soon and does this when it returns.
// Abandoning a finished job does nothing. Call it from the appender.
func (j *CleanJob) Abandon() {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch j.state {
	case cleanJobFinished:
		return
	case cleanJobRunning:
		j.abandoned = true
		j.cancel()
		return
	}
	j.discardLocked()
	j.state = cleanJobFinished
	if j.log.cleanJob == j {
		j.log.cleanJob = nil
	}
}

// discardLocked closes and removes the cleaned files not handed to the log
// and releases the sources (caller holds j.mu and owns the groups).
func (j *CleanJob) discardLocked() {
	j.removeOutputsLocked()
	if !j.released {
		j.released = true
		for _, src := range j.sources {
			src.seg.release()
		}
	}
}

// removeOutputsLocked closes and removes the cleaned files not handed to the
// log (caller holds j.mu and owns the groups).
func (j *CleanJob) removeOutputsLocked() {
	for _, g := range j.groups {
		if g.fresh != nil {
			if err := g.fresh.logFile.Close(); err != nil {
				j.log.logger.Warn("close cleaned segment failed", zap.String("file", g.path), zap.Error(err))
			}
			g.fresh = nil
		}
		if g.path != "" {
			if err := j.log.fs.Remove(g.path); err != nil && !errors.Is(err, errNotExist) {
				j.log.logger.Warn("remove cleaned segment failed", zap.String("file", g.path), zap.Error(err))
			}
			g.path = ""
		}
	}
}

// loadCleanerCheckpoint reads the cleaner checkpoint at Open and clamps it to
// the log end offset, durably: a checkpoint past the end would let appends
// that follow pass for clean.
func (l *Log) loadCleanerCheckpoint() error {
	cp, _, err := l.readCheckpoint(cleanerCheckpointFile)
	if err != nil {
		return err
	}
	l.cleanerCheckpoint = cp
	if cp > l.logEndOffset {
		l.logger.Warn("cleaner checkpoint past the log end offset, lowering it",
			zap.Int64("cleaner_checkpoint", cp), zap.Int64("log_end_offset", l.logEndOffset))
		return l.lowerCleanerCheckpoint(l.logEndOffset)
	}
	return nil
}

// lowerCleanerCheckpoint makes the cleaner checkpoint at most offset,
// durably, before a truncation removes the records from offset on (records
// appended there later are dirty).
func (l *Log) lowerCleanerCheckpoint(offset int64) error {
	if l.cleanerCheckpoint <= offset {
		return nil
	}
	if err := l.writeCheckpoint(cleanerCheckpointFile, offset); err != nil {
		return fmt.Errorf("lower cleaner checkpoint from %d to %d: %w", l.cleanerCheckpoint, offset, err)
	}
	l.mu.Lock()
	l.cleanerCheckpoint = offset
	l.mu.Unlock()
	return nil
}

// cleanedPath is the name of the cleaned copy of the group starting at base.
func (l *Log) cleanedPath(base int64) string {
	return path.Join(l.dir, segmentFileName(base, logFileExt)+cleanedFileExt)
}

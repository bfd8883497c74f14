package logstore

// The leader-epoch cache (Kafka's LeaderEpochFileCache): for each leader
// epoch whose records the log holds, the offset of its first record. Kafka's
// OffsetsForLeaderEpoch answers from it, and a follower truncates by those
// answers before fetching (KIP-101, KIP-279), so that replicas never diverge.
//
// Rules, following Kafka:
//   - Entries are ordered by epoch and by start offset, both strictly
//     increasing, and none starts past the log end offset. One may start at
//     the log end offset: an epoch that has begun but holds no record yet
//     (AssignEpochStartOffset, or an epoch checkpointed by an append whose
//     records a crash then lost).
//   - A leader's append with an epoch newer than the latest entry starts a
//     new entry at the append's first offset; with an older one it is refused
//     (a deposed leader never writes).
//   - A follower's append starts an entry for each batch whose epoch is newer
//     than the latest. An older one means the entries past the batch's base
//     offset describe no record and go, and that, if the epoch is still older
//     than the latest, the tail of the cache contradicts the leader's log,
//     which is the truth: as Kafka does, entries of that epoch or newer go and
//     the batch starts its epoch.
//   - Truncation drops every entry starting at or past the new log end
//     offset; an advance of the log start offset drops the entries wholly
//     below it and moves the one straddling it to start there.
//
// Durability: the checkpoint (leader-epoch-checkpoint, replaced atomically)
// is written before the records that start a new epoch, so a record on disk
// always has its epoch in the checkpoint. After truncations and log start
// advances it is written after the change; a crash in between leaves entries
// past the end or below the start, which recovery drops, as it does for
// entries whose records were lost. Recovery also starts entries for the
// epochs of the batches it rescans, and rebuilds the whole cache from batch
// headers when the checkpoint is missing or unreadable (a directory written
// before the cache existed); batches wholly below the log start offset,
// which no reader sees, play no part in either.

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

const (
	// leaderEpochCheckpointFile is the cache's file in the partition
	// directory, named as Kafka names it.
	leaderEpochCheckpointFile = "leader-epoch-checkpoint"
	// maxLeaderEpochCheckpointBytes bounds how much of it is read (half a
	// million epochs).
	maxLeaderEpochCheckpointBytes = 16 << 20
	// undefinedEpoch and undefinedEpochOffset are Kafka's answers to an
	// OffsetsForLeaderEpoch it cannot answer.
	undefinedEpoch       = -1
	undefinedEpochOffset = -1
)

// EpochEntry is one entry of the leader-epoch cache: the first offset of a
// leader epoch.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// LatestEpoch is the epoch of the cache's last entry: the epoch of the
// log's newest records, or one a leader started since. ok is false when the
// cache is empty.
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := len(l.epochs); n > 0 {
		return l.epochs[n-1].Epoch, true
	}
	return 0, false
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch as Kafka does: for the
// latest epoch, that epoch and the log end offset; otherwise the largest
// epoch at or below the one asked for and the start offset of the first
// epoch above it, which is where the epoch asked for ended. An epoch below
// every entry gets itself and the first entry's start offset (its records
// are gone; a follower goes on from there). An epoch past the latest, any
// epoch on an empty cache, and Kafka's undefined epoch -1 get Kafka's
// undefined answer (-1, -1); so does any other negative epoch, which no
// replica sends.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return endOffsetForEpoch(l.epochs, epoch, l.logEndOffset)
}

// LeaderEpochs returns a copy of the cache, oldest epoch first.
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.epochs)
}

// AssignEpochStartOffset records that epoch starts at the log end offset, as
// a replica that becomes leader for epoch does before its first append
// (Kafka's Partition.makeLeader): from then on, a follower asking where its
// older epoch ended learns the offset at which this leader took over, even
// before any record of the new epoch exists. An epoch older than the latest
// is refused with kerr.FencedLeaderEpoch; the latest one changes nothing.
// Call it from the appender.
func (l *Log) AssignEpochStartOffset(epoch int32) error {
	if err := l.checkAppendable(); err != nil {
		return err
	}
	es, err := leaderAssign(l.epochs, epoch, l.logEndOffset)
	if err == nil {
		err = l.checkpointEpochsBeforeAppend(l.epochs, es)
	}
	if err != nil {
		return fmt.Errorf("assign leader epoch %d: %w", epoch, err)
	}
	l.mu.Lock()
	l.epochs = es
	l.mu.Unlock()
	return nil
}

// endOffsetForEpoch is EndOffsetForEpoch over es and logEnd.
func endOffsetForEpoch(es []EpochEntry, epoch int32, logEnd int64) (int32, int64) {
	n := len(es)
	switch {
	case epoch < 0 || n == 0:
		return undefinedEpoch, undefinedEpochOffset
	case es[n-1].Epoch == epoch:
		return epoch, logEnd
	}
	// higher is the first entry of a later epoch.
	higher := firstEpochAbove(es, epoch)
	if higher == n {
		return undefinedEpoch, undefinedEpochOffset
	}
	if higher == 0 {
		return epoch, es[0].StartOffset
	}
	return es[higher-1].Epoch, es[higher].StartOffset
}

// firstEpochAbove is the index of the first entry whose epoch is above epoch.
func firstEpochAbove(es []EpochEntry, epoch int32) int {
	return sort.Search(len(es), func(i int) bool { return es[i].Epoch > epoch })
}

// sameEpochs says whether a and b hold the same entries, cheaply when one is
// the other (the common case: an append in the latest epoch).
func sameEpochs(a, b []EpochEntry) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0] || slices.Equal(a, b)
}

// The operations below never modify their argument: readers may hold it.

// leaderAssign is es after a leader's append (or takeover) at logEnd with
// epoch: a new entry when epoch is newer than the latest, es itself when it
// is the latest, kerr.FencedLeaderEpoch when it is older.
func leaderAssign(es []EpochEntry, epoch int32, logEnd int64) ([]EpochEntry, error) {
	if epoch < 0 {
		return nil, fmt.Errorf("leader epoch %d is negative: %w", epoch, kerr.InvalidRecord)
	}
	if n := len(es); n > 0 && epoch <= es[n-1].Epoch {
		if epoch < es[n-1].Epoch {
			return nil, fmt.Errorf("leader epoch %d is older than the log's latest %d: %w", epoch, es[n-1].Epoch, kerr.FencedLeaderEpoch)
		}
		return es, nil
	}
	return append(truncateEpochsFromEnd(es, logEnd), EpochEntry{Epoch: epoch, StartOffset: logEnd}), nil
}

// followerAssign is es after a follower appended a batch of epoch at base
// (base at or past the log end offset). Negative epochs (a batch no leader
// stamped) change nothing.
func followerAssign(es []EpochEntry, epoch int32, base int64) []EpochEntry {
	if n := len(es); epoch < 0 || n > 0 && es[n-1].Epoch == epoch {
		return es
	}
	es = truncateEpochsFromEnd(es, base)
	n := len(es)
	if n > 0 && es[n-1].Epoch == epoch {
		return es
	}
	for n > 0 && es[n-1].Epoch >= epoch {
		n--
	}
	return append(es[:n:n], EpochEntry{Epoch: epoch, StartOffset: base})
}

// recoveryAssign is es after recovery read a batch of epoch at base: only an
// epoch newer than the latest starts an entry, as in Kafka's segment
// recovery (the checkpoint already holds the epochs of records it lists).
func recoveryAssign(es []EpochEntry, epoch int32, base int64) []EpochEntry {
	if n := len(es); epoch < 0 || n > 0 && epoch <= es[n-1].Epoch {
		return es
	}
	return append(truncateEpochsFromEnd(es, base), EpochEntry{Epoch: epoch, StartOffset: base})
}

// truncateEpochsFromEnd drops the entries starting at or past endOffset.
func truncateEpochsFromEnd(es []EpochEntry, endOffset int64) []EpochEntry {
	n := len(es)
	for n > 0 && es[n-1].StartOffset >= endOffset {
		n--
	}
	return es[:n:n]
}

// truncateEpochsFromStart drops the entries wholly below startOffset and
// moves the one holding it (the last starting at or below it) to start there.
func truncateEpochsFromStart(es []EpochEntry, startOffset int64) []EpochEntry {
	i := 0
	for i < len(es) && es[i].StartOffset <= startOffset {
		i++
	}
	if i == 0 || (i == 1 && es[0].StartOffset == startOffset) {
		return es
	}
	out := make([]EpochEntry, 0, len(es)-i+1)
	out = append(out, EpochEntry{Epoch: es[i-1].Epoch, StartOffset: startOffset})
	return append(out, es[i:]...)
}

// checkpointEpochsBeforeAppend writes the checkpoint of the cache an append
// will publish with its records (after, changed from before), before the
// records are written: once on disk, they have their epochs in it.
func (l *Log) checkpointEpochsBeforeAppend(before, after []EpochEntry) error {
	if sameEpochs(before, after) {
		return nil
	}
	if err := l.writeEpochCheckpoint(after); err != nil {
		return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	return nil
}

// restoreEpochCheckpoint writes back the checkpoint of before an append whose
// records never came. If that fails, the log fails: the checkpoint would name
// epochs for records that do not exist.
func (l *Log) restoreEpochCheckpoint(before, after []EpochEntry) {
	if sameEpochs(before, after) {
		return
	}
	if err := l.writeEpochCheckpoint(before); err != nil {
		l.fail(fmt.Errorf("restore the leader-epoch checkpoint after a failed append: %w", err))
	}
}

// checkpointEpochsIfChanged writes the published cache when it differs from
// before (after a truncation or a log start advance, which published it
// together with the offsets that changed it).
func (l *Log) checkpointEpochsIfChanged(before []EpochEntry) error {
	l.mu.RLock()
	es := l.epochs
	l.mu.RUnlock()
	if sameEpochs(es, before) {
		return nil
	}
	return l.writeEpochCheckpoint(es)
}

// writeEpochCheckpoint replaces the checkpoint with es.
func (l *Log) writeEpochCheckpoint(es []EpochEntry) error {
	if err := writeFileAtomic(l.fs, path.Join(l.dir, leaderEpochCheckpointFile), encodeEpochCheckpoint(es)); err != nil {
		return fmt.Errorf("checkpoint leader epochs: %w", err)
	}
	return nil
}

func encodeEpochCheckpoint(es []EpochEntry) []byte {
	entries := make([][]string, len(es))
	for i, e := range es {
		entries[i] = []string{strconv.Itoa(int(e.Epoch)), strconv.FormatInt(e.StartOffset, 10)}
	}
	return encodeCheckpointEntries(entries)
}

// decodeEpochCheckpoint parses the checkpoint; entries out of order are
// ErrCorruption.
func decodeEpochCheckpoint(p []byte) ([]EpochEntry, error) {
	entries, err := decodeCheckpointEntries(p, 2)
	if err != nil {
		return nil, err
	}
	es := make([]EpochEntry, 0, len(entries))
	for i, fields := range entries {
		epoch, eerr := strconv.ParseInt(fields[0], 10, 32)
		start, serr := strconv.ParseInt(fields[1], 10, 64)
		if eerr != nil || serr != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("%w: leader epoch entry %d %q", ErrCorruption, i, fields)
		}
		e := EpochEntry{Epoch: int32(epoch), StartOffset: start}
		if n := len(es); n > 0 && (e.Epoch <= es[n-1].Epoch || e.StartOffset <= es[n-1].StartOffset) {
			return nil, fmt.Errorf("%w: leader epoch entry %d %+v does not follow %+v", ErrCorruption, i, e, es[n-1])
		}
		es = append(es, e)
	}
	return es, nil
}

// loadEpochCheckpoint reads the checkpoint into l.epochs at the start of
// recovery. It reports false when the file is missing or damaged: the
// cache must then be rebuilt from the batches. A file the disk fails to
// read is an error (readCheckpoint).
func (l *Log) loadEpochCheckpoint() (bool, error) {
	name := path.Join(l.dir, leaderEpochCheckpointFile)
	p, err := ReadWholeFile(l.fs, name, maxLeaderEpochCheckpointBytes)
	var es []EpochEntry
	if err == nil {
		es, err = decodeEpochCheckpoint(p)
	}
	switch {
	case err == nil:
		l.epochs = es
		return true, nil
	case errors.Is(err, errNotExist):
		// A new log, or one written before the cache existed.
		return false, nil
	case errors.Is(err, ErrCorruption):
		l.logger.Warn("ignoring bad leader-epoch checkpoint", zap.String("file", name), zap.Error(err))
		return false, nil
	}
	return false, fmt.Errorf("read leader-epoch checkpoint: %w", err)
}

// rebuildEpochs recomputes l.epochs from the header of every batch not wholly
// below logStart, in log order (recovery, without a usable checkpoint).
func (l *Log) rebuildEpochs(logStart int64) error {
	l.epochs = nil
	for _, seg := range l.segments {
		if seg.nextOffset <= logStart {
			continue
		}
		r := segmentScanner{file: seg, size: seg.sizeBytes}
		for pos := int64(0); pos < seg.sizeBytes; {
			if seg.sizeBytes-pos < BatchHeaderBytes {
				return fmt.Errorf("rebuild leader epochs: %w: segment %s ends %d bytes into a batch header", ErrCorruption, seg.logPath(), seg.sizeBytes-pos)
			}
			p, err := r.bytes(pos, BatchHeaderBytes)
			if err != nil {
				return fmt.Errorf("rebuild leader epochs: %w", err)
			}
			h, err := parseBatchHeader(p)
			if err != nil {
				return fmt.Errorf("rebuild leader epochs: segment %s position %d: %w", seg.logPath(), pos, err)
			}
			if h.lastOffset() >= logStart {
				l.epochs = recoveryAssign(l.epochs, h.leaderEpoch, h.baseOffset)
			}
			pos += h.sizeBytes
		}
	}
	if len(l.epochs) > 0 {
		l.logger.Info("rebuilt the leader-epoch cache from batch headers", zap.Int("entries", len(l.epochs)))
	}
	return nil
}

// finishEpochRecovery fits the recovered cache to the recovered log (no entry
// past the log end offset, none wholly below the log start offset) and
// writes the checkpoint if that changed it or it was missing (but for a new
// log without epochs, whose missing checkpoint says as much).
func (l *Log) finishEpochRecovery(loaded []EpochEntry, haveCheckpoint bool) error {
	es := l.epochs
	es = truncateEpochsFromEnd(es, l.logEndOffset+1)
	es = truncateEpochsFromStart(es, l.logStartOffset)
	l.epochs = es
	if haveCheckpoint && sameEpochs(es, loaded) || l.isNew && len(es) == 0 {
		// The checkpoint says so already; a new log's missing one reads
		// as no epochs.
		return nil
	}
	return l.writeEpochCheckpoint(es)
}

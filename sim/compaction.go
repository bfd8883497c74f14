package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// Log compaction as events. In production the partition actor plans a
// clean when its replica core asks (logstore's PlanClean hands out a
// CleanJob), the node's cleaner goroutine runs the jobs one at a time
// (CleanJob.Run), and the partition commits or abandons each when the core
// says (CommitClean, Abandon; actors/cleaner.go, actors/partition_storage.go).
// Here:
//
//   - planning is synchronous in the replica's shell, as in production;
//   - the node's cleaner takes the jobs in order, one at a time: a job
//     starts as an event of its own once the cleaner is free and does its
//     I/O then, and finishes later in virtual time (in proportion to the
//     bytes it read and wrote, plus jitter), when its outcome goes to the
//     replica core; a crash in between leaves its cleaned files for
//     recovery, a replica stopped in between abandoned it (closing the log
//     does);
//   - the core then asks to commit it (or abandon it after an error), and
//     the shell does.
//
// So compaction interleaves with appends, fetches, truncations, crashes,
// power losses and disk faults. The checkers see each replica's log through
// its shadow (node_replica.go), which keeps every batch as first written:
// a batch compaction rewrote is known by its original CRC, one it dropped
// stays in the shadow; both are registered per partition (compactionLog)
// so that a replica that later reads the compacted log (a restart's
// recovery, a follower fetching from a compacted leader) sees the same
// logical log. The offsets compaction removed are registered too: a poll
// may skip them (Q9) and an acknowledged write there is no loss (Q3, Q4).
//
// C1, checked at every commit against the log before and after it:
// compaction keeps the latest record of every key among plain records and
// those of committed transactions (tombstones aside), removes nothing of a
// transaction still open, never changes a record it keeps, and never moves
// a batch's offsets or leader epoch.

const (
	// cleanerCheckIntervalMs is log.retention.check.interval.ms and
	// log.cleaner.backoff.ms in the simulator (Kafka: 5 minutes and 15 s):
	// how often a replica runs retention and considers compaction.
	cleanerCheckIntervalMs = 5000
	// cleanerMaxKeys bounds a job's key map (production: 1 Mi keys).
	cleanerMaxKeys = 4096
	// cleanerBytesPerMs is the cleaner's simulated speed (50 MB/s), and
	// cleanerJitterMs the mean of the exponential time added to each job.
	cleanerBytesPerMs = 50_000
	cleanerJitterMs   = 20
	// compactedKeys is the number of keys of a compacted workload topic.
	compactedKeys = 16
	// compactedSegmentBytes is segment.bytes of the compacted topics in
	// the simulator, small so that segments roll and get cleaned.
	compactedSegmentBytes = 2048
)

// compactionLog is what compaction did to one partition, on any replica.
type compactionLog struct {
	// rewritten maps a batch compaction rewrote (as it is now) to the CRC
	// it was first written with.
	rewritten map[batchID]uint32
	// dropped are the batches compaction removed whole, each by the batch
	// that followed it in the log as first written: a batch (its offsets,
	// leader epoch and CRC) determines the log before it (log matching,
	// S4), so a log that holds the follower held the dropped batch too,
	// whatever other histories held at its offsets (after unclean
	// elections).
	dropped map[batchID]shadowBatch
	// follows are the same batches by the batch before them as first
	// written (compaction_gaps.go).
	follows map[batchID][]shadowBatch
	// droppedIDs are the same batches by their ids.
	droppedIDs map[batchID]bool
	// removed are the offsets whose records compaction removed.
	removed map[int64]bool
	// filled counts the dropped batches put back into shadows of logs
	// read after compaction (for the tests).
	filled int
}

// batchID names a batch as stored: its offsets, leader epoch and CRC.
type batchID struct {
	base, last int64
	epoch      int32
	crc        uint32
}

// compactionOf is tp's compaction log, made when first needed.
func (w *World) compactionOf(tp tpKey) *compactionLog {
	if w.compaction == nil {
		w.compaction = map[tpKey]*compactionLog{}
	}
	c := w.compaction[tp]
	if c == nil {
		c = &compactionLog{rewritten: map[batchID]uint32{}, dropped: map[batchID]shadowBatch{}, removed: map[int64]bool{}}
		w.compaction[tp] = c
	}
	return c
}

// compactedAway says compaction removed the record at offset of tp.
func (w *World) compactedAway(tp tpKey, offset int64) bool {
	c := w.compaction[tp]
	return c != nil && c.removed[offset]
}

// originalCRC is the CRC a batch was first written with.
func (c *compactionLog) originalCRC(b *logstore.Batch) uint32 {
	crc := uint32(b.CRC)
	if c == nil {
		return crc
	}
	if orig, ok := c.rewritten[batchID{b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch, crc}]; ok {
		return orig
	}
	return crc
}

// nodeCleaner is a node's log cleaner (log.cleaner.threads=1) for one
// process: the jobs planned and not yet started, and whether one runs.
type nodeCleaner struct {
	queue []*cleanTask
	busy  bool
}

// cleanTask is one job of a replica's log.
type cleanTask struct {
	h   *replicaHost
	log *logstore.Log
	job *logstore.CleanJob
	err error
}

// planCompaction asks the log for a job and queues it on the node's
// cleaner; it reports whether there was one (CompactionPlanned).
func (h *replicaHost) planCompaction(p cluster.PlanCompaction) bool {
	n := h.n
	job, ok := h.log.PlanClean(p.NowMs, p.MaxOffset)
	if !ok {
		return false
	}
	t := &cleanTask{h: h, log: h.log, job: job}
	h.cleaning = t
	n.cleaner.queue = append(n.cleaner.queue, t)
	st := job.Stats()
	n.w.tracef("%s %s: compaction planned from offset %d (dirty ratio %.2f)", n.name(), h.key, st.FirstDirtyOffset, st.DirtyRatio)
	if !n.cleaner.busy {
		n.at(n.w.now, n.startClean)
	}
	return true
}

// startClean runs the next job still wanted, if the cleaner is free: its
// I/O now, its outcome later.
func (n *node) startClean() {
	w, c := n.w, &n.cleaner
	if c.busy {
		return
	}
	for len(c.queue) > 0 {
		t := c.queue[0]
		c.queue = c.queue[1:]
		if t.h.cleaning != t || t.h.log != t.log {
			continue // its replica stopped: closing the log abandoned it
		}
		c.busy = true
		t.err = t.job.Run(context.Background(), logstore.CleanerOptions{MaxKeys: cleanerMaxKeys})
		st := t.job.Stats()
		took := 1 + (st.BytesRead+st.BytesWritten)/cleanerBytesPerMs + expMs(w.rngDisk, cleanerJitterMs)
		w.tracef("%s %s: compaction runs for %dms (read %d bytes, wrote %d, err %v)", n.name(), t.h.key, took, st.BytesRead, st.BytesWritten, t.err)
		n.at(w.now+took, func() {
			c.busy = false
			n.cleanFinished(t)
			n.startClean()
		})
		return
	}
}

// cleanFinished hands a job's outcome to its replica's core.
func (n *node) cleanFinished(t *cleanTask) {
	h := t.h
	if n.replicas[h.key] != h || h.core == nil || h.cleaning != t || h.log != t.log {
		return
	}
	h.deliver(func() {
		h.core.CompactionFinished(t.err)
		h.carryOut()
	})
}

// finishCompaction commits the job that ran (checking C1 and registering
// what it changed), or abandons it.
func (h *replicaHost) finishCompaction(commit bool) {
	n, w := h.n, h.n.w
	t := h.cleaning
	h.cleaning = nil
	if t == nil {
		return
	}
	if !commit {
		t.job.Abandon()
		w.tracef("%s %s: compaction abandoned: %v", n.name(), h.key, t.err)
		return
	}
	before, err := readLogView(h.log)
	if err != nil {
		t.job.Abandon()
		w.tracef("%s %s: compaction abandoned: the log does not read: %v", n.name(), h.key, err)
		return
	}
	// A commit that fails may still have swapped in its first groups (and
	// the group it failed on, when only the fresh segment's index could not
	// be written): what they dropped must be registered like any other
	// commit's, or a replica that later reads the compacted log finds gaps
	// its shadow cannot fill (seed 342 with --duration 3m).
	commitErr := h.log.CommitClean(t.job)
	after, err := readLogView(h.log)
	if err != nil {
		w.tracef("%s %s: the compacted log does not read: %v (commit: %v)", n.name(), h.key, err, commitErr)
		return
	}
	st := t.job.Stats()
	removed := w.compactionCommitted(n, h.key, &h.shadow, before, after)
	if commitErr != nil {
		if removed > 0 || st.SegmentsReplaced > 0 {
			w.stats.Compactions++
			w.stats.RecordsCompacted += int64(removed)
		}
		w.tracef("%s %s: compaction not committed in full: %d records removed, %d segments replaced: %v",
			n.name(), h.key, removed, st.SegmentsReplaced, commitErr)
		return
	}
	w.stats.Compactions++
	w.stats.RecordsCompacted += int64(removed)
	w.tracef("%s %s: compaction committed up to offset %d: %d records removed, %d segments replaced",
		n.name(), h.key, st.CleanedUpToOffset, removed, st.SegmentsReplaced)
}

// logView is a log as read: its batches and their records.
type logView struct {
	batches []viewBatch
}

type viewBatch struct {
	id batchID
	// control batches hold no data. A transactional data batch belongs to
	// an aborted transaction (its records supersede nothing and may go),
	// to one still open (its records supersede nothing and must stay), or
	// to a committed one (its records are compacted by key like any
	// other), as the log's aborted-transaction index and producer state
	// say when it is read.
	control, aborted, open bool
	records                []viewRecord
}

type viewRecord struct {
	offset    int64
	key       string
	tombstone bool
	value     uint64 // a hash of the value
}

// readLogView reads a whole log.
func readLogView(log *logstore.Log) (*logView, error) {
	v := &logView{}
	codecs := logstore.NewCodecs()
	aborted := map[int64][]logstore.AbortedTxn{} // by producer, in marker order
	for _, a := range log.AbortedTransactions(log.LogStartOffset(), math.MaxInt64) {
		aborted[a.ProducerID] = append(aborted[a.ProducerID], a)
	}
	ongoing := log.ProducerStates().Ongoing()
	_, err := eachLogBatch(log, func(b *logstore.Batch) error {
		if n := len(v.batches); n > 0 && b.FirstOffset <= v.batches[n-1].id.last {
			return nil
		}
		vb := viewBatch{id: batchID{b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch, uint32(b.CRC)},
			control: b.Attributes&0x20 != 0}
		if b.Attributes&0x30 == 0x10 && b.ProducerID >= 0 {
			// The producer's first abort whose marker follows the batch is
			// the only one that can hold it.
			as := aborted[b.ProducerID]
			i := sort.Search(len(as), func(i int) bool { return as[i].LastOffset > b.LastOffset() })
			vb.aborted = i < len(as) && as[i].FirstOffset <= b.FirstOffset
			first, open := ongoing[b.ProducerID]
			vb.open = open && b.FirstOffset >= first
		}
		err := codecs.EachRecord(b, func(off int64, r *kmsg.Record) {
			h := fnv.New64a()
			h.Write(r.Value)
			vb.records = append(vb.records, viewRecord{offset: off, key: string(r.Key), tombstone: r.Value == nil, value: h.Sum64()})
		})
		v.batches = append(v.batches, vb)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// eachLogBatch calls fn on every batch of log, from its start, in order. It
// returns the offset where a read found no batch before the log end
// (compaction emptied the log's end and a truncation took what superseded
// it, compaction_gaps.go; production's readers stop there too), or the log
// end offset.
func eachLogBatch(log *logstore.Log, fn func(b *logstore.Batch) error) (int64, error) {
	offset := log.LogStartOffset()
	for offset < log.LogEndOffset() {
		recs, err := log.Read(offset, math.MaxInt32, log.LogEndOffset())
		if err != nil {
			return offset, err
		}
		raw, err := recs.Bytes()
		recs.Release()
		if err != nil {
			return offset, err
		}
		if len(raw) == 0 {
			return offset, nil
		}
		for len(raw) > 0 {
			size, err := logstore.BatchSize(raw)
			if err != nil {
				return offset, err
			}
			b, err := logstore.ParseBatch(raw[:size])
			if err != nil {
				return offset, err
			}
			if err := fn(&b); err != nil {
				return offset, err
			}
			raw = raw[size:]
			offset = b.NextOffset()
		}
	}
	return offset, nil
}

// compactionCommitted checks C1 on one commit of n's replica of tp and
// registers what it changed; it returns how many records it removed.
func (w *World) compactionCommitted(n *node, tp tpKey, shadow *shadowLog, before, after *logView) int {
	c := w.compactionOf(tp)
	kept := map[int64]viewRecord{}
	afterBatches := map[int64]batchID{}
	for _, b := range after.batches {
		afterBatches[b.id.base] = b.id
		for _, r := range b.records {
			kept[r.offset] = r
		}
	}
	// The latest record of each key before the commit, among plain records
	// and those of committed transactions (one aborted or still open
	// supersedes nothing).
	latest := map[string]int64{}
	latestAt := map[int64]bool{}
	for _, b := range before.batches {
		for _, r := range b.records {
			if !b.control && !b.aborted && !b.open {
				latest[r.key] = r.offset
			}
		}
	}
	for _, off := range latest {
		latestAt[off] = true
	}
	removed := 0
	beforeBatches := map[int64]bool{}
	for _, b := range before.batches {
		beforeBatches[b.id.base] = true
		w.stats.InvariantsChecked++
		if a, ok := afterBatches[b.id.base]; ok && (a.last != b.id.last || a.epoch != b.id.epoch) {
			w.violation("C1", fmt.Sprintf("%s %s: compaction turned batch [%d, %d] of leader epoch %d into [%d, %d] of epoch %d",
				n.name(), tp, b.id.base, b.id.last, b.id.epoch, a.base, a.last, a.epoch))
			return removed
		}
		for _, r := range b.records {
			k, ok := kept[r.offset]
			switch {
			case ok && (k.key != r.key || k.value != r.value || k.tombstone != r.tombstone):
				w.violation("C1", fmt.Sprintf("%s %s: compaction changed the record at offset %d", n.name(), tp, r.offset))
				return removed
			case ok:
			case b.open:
				w.violation("C1", fmt.Sprintf("%s %s: compaction removed the record at offset %d of a transaction still open",
					n.name(), tp, r.offset))
				return removed
			case latestAt[r.offset] && !r.tombstone:
				w.violation("C1", fmt.Sprintf("%s %s: compaction removed the latest record of key %q at offset %d",
					n.name(), tp, r.key, r.offset))
				return removed
			default:
				removed++
				c.removed[r.offset] = true
			}
		}
	}
	shadow.checkGapsRegistered(c, before)
	// The shadow keeps each batch as first written: register how the
	// rewritten ones look now, and the ones dropped.
	for i, sb := range shadow.batches {
		a, ok := afterBatches[sb.base]
		switch {
		case !ok && beforeBatches[sb.base] && i+1 < len(shadow.batches):
			d := shadowBatch{base: sb.base, last: sb.last, epoch: sb.epoch, crc: sb.crc, pid: sb.pid, pepoch: sb.pepoch, seq: sb.seq}
			c.dropped[shadow.batches[i+1].id()] = d
			prev := logStartID(shadow.start)
			if i > 0 {
				prev = shadow.batches[i-1].id()
			}
			c.registerFollows(prev, d)
		case ok && a.crc != sb.crc:
			c.rewritten[a] = sb.crc
		}
	}
	return removed
}

// fillDropped adds to the shadow the batches compaction dropped before
// next, the batch that follows a gap in the log it reads (a restart's
// recovery, a follower fetching from a compacted leader), so that it holds
// the log as first written. It adds nothing unless the dropped batches
// fill the gap exactly; when next does not name them (a truncation took
// the batch that did), they are looked for after the shadow's last batch
// (compaction_gaps.go).
func (s *shadowLog) fillDropped(next batchID) {
	if s.canon == nil {
		return
	}
	var run []shadowBatch
	for id := next; ; {
		d, ok := s.canon.dropped[id]
		if !ok || d.base < s.end() {
			s.fillForward(next.base)
			return
		}
		run = append(run, d)
		if d.base == s.end() {
			break
		}
		id = d.id()
	}
	for i := len(run) - 1; i >= 0; i-- {
		s.pushBatch(run[i])
	}
	s.canon.filled += len(run)
}

// id names the batch as first written.
func (b shadowBatch) id() batchID { return batchID{b.base, b.last, b.epoch, b.crc} }

// compactedTopicConfigs are the configs of a compacted topic in the
// simulator.
func compactedTopicConfigs() [][2]string {
	return [][2]string{{"cleanup.policy", "compact"}, {"segment.bytes", fmt.Sprint(compactedSegmentBytes)},
		{"min.cleanable.dirty.ratio", "0.3"}}
}

// recordKey is the key a send's record carries: one of compactedKeys on a
// compacted topic (from the send's index, so retries keep it), none
// elsewhere.
func (c *client) recordKey(op *sendOp) []byte {
	if t, ok := c.meta.topics[op.tp.topic]; !ok || !t.compacted {
		return nil
	}
	return []byte(fmt.Sprintf("k%d", op.index%compactedKeys))
}

// buildKeyedBatch encodes a RecordBatch v2 of one record with key (nil:
// none) and value, as a producer does (no compression, no idempotence).
func buildKeyedBatch(key []byte, value string, timestampMs int64) []byte {
	r := kmsg.Record{Key: key, Value: []byte(value)}
	enc := r.AppendTo(nil)
	r.Length = int32(len(enc) - 1)
	enc = r.AppendTo(nil)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: timestampMs, MaxTimestamp: timestampMs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: enc,
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	logstore.ChecksumBatch(raw)
	return raw
}

// skippedCompactedAway says every offset in [from, to) of tp was removed
// by compaction (a poll may skip them).
func (w *World) skippedCompactedAway(tp tpKey, from, to int64) bool {
	c := w.compaction[tp]
	if c == nil || to-from > int64(len(c.removed)) {
		return false
	}
	for o := from; o < to; o++ {
		if !c.removed[o] {
			return false
		}
	}
	return true
}

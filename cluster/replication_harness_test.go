package cluster

import (
	"errors"
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// testNode is one broker's replica of a partition for tests that run the
// replica core over a real log on an in-memory filesystem (vfs.Mem, which
// can crash): a shell in miniature that carries out the core's effects
// against the log at once, reporting each completion, as the partition actor
// does. Replies, watches woken and the follower's published fetch states are
// kept for the test to take.
type testNode struct {
	id   int32
	fs   *vfs.Mem
	dir  string
	cfg  ReplicaConfig
	opts ReplicaOptions
	log  *logstore.Log
	r    *Replica
	now  Instant

	// hw is the high watermark as checkpointed at every step (the node's
	// replication-offset-checkpoint, which a restart starts from).
	hw int64
	// The core's answers, in the order they came.
	produceReplies []ProduceReply
	fetchReplies   []FetchReply
	epochEnds      []EpochEndReply
	woken          []WatchWoken
	alters         []AlterPartitionRequest
	fatal          error
	// effects lists what the node did, a line each, for scripts.
	effects []string
}

// newTestNode opens the node's log (recovering what the filesystem holds)
// and builds its replica core from it and the partition record.
func newTestNode(id int32, fs *vfs.Mem, cfg ReplicaConfig, opts ReplicaOptions, p PartitionImage, hw int64, now Instant) (*testNode, error) {
	n := &testNode{id: id, fs: fs, dir: fmt.Sprintf("/node%d/t-0", id), cfg: cfg, opts: opts, now: now, hw: hw}
	if err := n.open(p); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *testNode) open(p PartitionImage) error {
	if err := makeNodeDir(n.fs, n.dir); err != nil {
		return err
	}
	log, err := logstore.Open(logstore.Options{FS: n.fs, Dir: n.dir, Config: testLogConfig(), NowMs: n.now.WallMs})
	if err != nil {
		return err
	}
	n.log = log
	n.opts.NodeID = n.id
	n.r = NewReplica(n.opts, TopicSettings{Replica: n.cfg}, ReplicaState{Partition: p, LogStartOffset: log.LogStartOffset(),
		LogEndOffset: log.LogEndOffset(), FlushedOffset: log.FlushedOffset(), HighWatermark: n.hw, LeaderEpochs: log.LeaderEpochs(),
		Producers: log.ProducerStates()}, n.now)
	n.carryOut()
	return nil
}

// crash simulates a power loss of the node's machine: the log is gone, and
// so is everything not synced, unless keepUnsynced (a process crash: the
// page cache survives). The node is down until restart.
func (n *testNode) crash(keepUnsynced bool) {
	if keepUnsynced {
		_ = n.log.Close()
	} else {
		n.fs.Crash()
	}
	n.log, n.r = nil, nil
	n.fatal = nil
}

// restart reopens the log and builds a new core from the partition record.
func (n *testNode) restart(p PartitionImage) error {
	if n.log != nil {
		return errors.New("restart of a running node")
	}
	return n.open(p)
}

func (n *testNode) note(format string, args ...any) {
	n.effects = append(n.effects, fmt.Sprintf(format, args...))
}

// takeEffects returns the effect lines noted since the last call.
func (n *testNode) takeEffects() []string {
	e := n.effects
	n.effects = nil
	return e
}

// carryOut performs the core's effects until it has none left, as the
// partition actor does, then checkpoints the high watermark.
func (n *testNode) carryOut() {
	for n.r != nil {
		rd := n.r.Ready()
		if rd.Empty() {
			break
		}
		n.perform(&rd)
		n.produceReplies = append(n.produceReplies, rd.ProduceReplies...)
		n.fetchReplies = append(n.fetchReplies, rd.FetchReplies...)
		n.epochEnds = append(n.epochEnds, rd.EpochEndReplies...)
		n.woken = append(n.woken, rd.Woken...)
		if rd.AlterPartition != nil {
			n.alters = append(n.alters, *rd.AlterPartition)
			n.note("alter-partition isr=%v leader-epoch=%d partition-epoch=%d", rd.AlterPartition.ISR, rd.AlterPartition.LeaderEpoch, rd.AlterPartition.PartitionEpoch)
		}
		if st := rd.FetchState; st != nil {
			n.note("%s", fetchStateLine(*st))
		}
		if rd.Fatal != nil {
			n.fatal = rd.Fatal
			n.note("fatal: %v", rd.Fatal)
			break
		}
	}
	if n.r != nil {
		n.hw = n.r.HighWatermark()
	}
}

// perform carries out the log effects of a Ready in its order.
func (n *testNode) perform(rd *Ready) {
	if a := rd.AssignEpochStart; a != nil {
		err := n.log.AssignEpochStartOffset(a.Epoch)
		n.note("assign-epoch-start epoch=%d%s", a.Epoch, errSuffix(err))
		n.r.EpochStartAssigned(n.log.LeaderEpochs(), err)
	}
	if t := rd.Truncate; t != nil {
		var err error
		if t.Fully {
			err = n.log.TruncateFullyAndStartAt(t.Offset, t.NowMs)
			n.note("truncate fully offset=%d%s", t.Offset, errSuffix(err))
		} else {
			err = n.log.Truncate(t.Offset, t.NowMs)
			n.note("truncate offset=%d%s", t.Offset, errSuffix(err))
		}
		n.r.Truncated(TruncateOutcome{LogStartOffset: n.log.LogStartOffset(), LogEndOffset: n.log.LogEndOffset(),
			FlushedOffset: n.log.FlushedOffset(), LeaderEpochs: n.log.LeaderEpochs(), Producers: n.log.ProducerStates()}, err)
	}
	if a := rd.FollowerAppend; a != nil {
		_, err := n.log.AppendAsFollower(a.Batches, a.NowMs)
		n.note("append-as-follower %s%s", batchesLine(a.Batches), errSuffix(err))
		n.r.FollowerAppendCompleted(FollowerAppendOutcome{LogEndOffset: n.log.LogEndOffset(), FlushedOffset: n.log.FlushedOffset(),
			LeaderEpochs: n.log.LeaderEpochs()}, err)
	}
	if rl := rd.RaiseLogStart; rl != nil {
		err := n.log.AdvanceLogStartOffset(rl.Offset)
		n.note("raise-log-start offset=%d%s", rl.Offset, errSuffix(err))
		n.r.LogStartRaised(n.log.LogStartOffset(), err)
	}
	for _, ap := range rd.Appends {
		res, err := n.log.Append(ap.Batches, ap.LeaderEpoch, ap.NowMs)
		if err != nil {
			n.note("append epoch=%d%s", ap.LeaderEpoch, errSuffix(err))
			n.r.AppendCompleted(ap.ID, AppendOutcome{}, err)
			continue
		}
		n.note("append %s", batchesLine(ap.Batches))
		n.r.AppendCompleted(ap.ID, AppendOutcome{BaseOffset: res.BaseOffsets[0], LogEndOffset: res.LogEndOffset, FlushedOffset: n.log.FlushedOffset()}, nil)
	}
	for _, rr := range rd.Reads {
		recs, err := n.log.Read(rr.Offset, rr.MaxBytes, rr.MaxOffset)
		n.r.ReadCompleted(rr.ID, recs, err)
	}
	for _, l := range rd.Lookups {
		n.r.TimestampLookedUp(l.ID, logstore.TimestampOffset{}, false, nil)
	}
	for _, adv := range rd.LogStartAdvances {
		err := n.log.AdvanceLogStartOffset(adv.Offset)
		n.r.LogStartAdvanced(adv.ID, n.log.LogStartOffset(), err)
	}
	if rd.TickLog != nil {
		_ = n.log.Tick(rd.TickLog.NowMs)
		n.r.Flushed(n.log.FlushedOffset())
	}
	n.log.RemoveProducers(rd.ExpireProducers)
	if rd.DeleteRetainedSegments != nil {
		_, _ = n.log.DeleteRetainedSegments(rd.DeleteRetainedSegments.NowMs, rd.DeleteRetainedSegments.HighWatermark)
		n.r.RetentionApplied(n.log.LogStartOffset())
	}
	if rd.PlanCompaction != nil {
		n.r.CompactionPlanned(false)
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return " error=" + ke.Message
	}
	return " error=" + err.Error()
}

// batchesLine prints batches as base..last@epoch.
func batchesLine(batches [][]byte) string {
	var parts []string
	for _, p := range batches {
		b, err := logstore.ParseBatch(p)
		if err != nil {
			parts = append(parts, "corrupt")
			continue
		}
		parts = append(parts, fmt.Sprintf("%d..%d@%d", b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// logBatches lists the batches the node's log holds (a read returns one
// segment's worth at most: read on until the end).
func (n *testNode) logBatches() ([]logstore.Batch, error) {
	var out []logstore.Batch
	for offset := n.log.LogStartOffset(); offset < n.log.LogEndOffset(); {
		recs, err := n.log.Read(offset, math.MaxInt32, n.log.LogEndOffset())
		if err != nil {
			return nil, err
		}
		raw, err := recs.Bytes()
		recs.Release()
		if err != nil {
			return nil, err
		}
		if len(raw) == 0 {
			return nil, fmt.Errorf("read at %d below the log end offset %d returned nothing", offset, n.log.LogEndOffset())
		}
		for len(raw) > 0 {
			size, err := logstore.BatchSize(raw)
			if err != nil {
				return nil, err
			}
			b, err := logstore.ParseBatch(raw[:size])
			if err != nil {
				return nil, err
			}
			if len(out) == 0 || b.FirstOffset > out[len(out)-1].LastOffset() {
				out = append(out, b)
			}
			raw = raw[size:]
			offset = b.NextOffset()
		}
	}
	return out, nil
}

// logLine prints the node's log: its offsets and batches, and its
// leader-epoch cache.
func (n *testNode) logLine() string {
	bs, err := n.logBatches()
	if err != nil {
		return "log: " + err.Error()
	}
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%d..%d@%d", b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch))
	}
	var es []string
	for _, e := range n.log.LeaderEpochs() {
		es = append(es, fmt.Sprintf("%d@%d", e.Epoch, e.StartOffset))
	}
	return fmt.Sprintf("log [%d,%d) batches=[%s] epochs=[%s]", n.log.LogStartOffset(), n.log.LogEndOffset(), strings.Join(parts, " "), strings.Join(es, " "))
}

// leaderBatch encodes a batch of count records at base with a leader epoch,
// as a leader's log holds it.
func leaderBatch(t interface {
	Helper()
	Fatal(...any)
}, base int64, count int, epoch int32) []byte {
	b := testBatch(t, count, 1_000, 1_000, 0)
	logstore.SetBatchBaseOffset(b, base)
	logstore.SetBatchLeaderEpoch(b, epoch)
	return b
}

// testLogConfig is the log configuration of test nodes: Kafka's defaults,
// with small segments so that truncations cross segments.
func testLogConfig() logstore.Config {
	cfg := logstore.DefaultConfig()
	cfg.SegmentBytes = 1024
	return cfg
}

// makeNodeDir makes the parent of a partition directory durably, as a node's
// data directory is before any log opens in it.
func makeNodeDir(fs *vfs.Mem, dir string) error {
	if err := fs.MkdirAll(path.Dir(dir), 0o755); err != nil {
		return err
	}
	return fs.SyncDir(path.Dir(path.Dir(dir)))
}

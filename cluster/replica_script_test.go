package cluster

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// TestReplicaScripts runs testdata/replica: a replica core stepped command by
// command over a model log, printing its Ready after each step. Time is one
// number (monotonic and wall ms alike) unless tick sets wall= apart.
//
//	new [epoch=E] [start=S] [end=L] [flushed=F] [hw=H] [durable] [compact]
//	    [min-isr=N] [no-cleaner] [retention-check=MS] [log-append-time]
//	produce id=I acks=0|1|all records=N [timeout=MS] [ts=T]
//	append-done id=I [error=storage|corrupt|too-large] [flushed=F]
//	flushed offset=F
//	fetch id=I offset=O [epoch=E] [max-bytes=B] [committed]
//	read-done id=I [error=out-of-range|corrupt|io]
//	watch id=I offset=O deadline=MS [epoch=E] [read] [committed]
//	tick T [wall=W]
//	list-offsets id=I ts=T [epoch=E] [committed]
//	lookup-done id=I (offset=O ts=T | none | error=io|corrupt)
//	delete-records id=I offset=O
//	advance-done id=I [error=io]
//	retention-done start=S
//	compaction-planned [started]
//	compaction-done [error=canceled]
//	set-config [durable] [compact] [min-isr=N]
//	state
func TestReplicaScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/replica", func(t *testing.T, path string) {
		h := &replicaHarness{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

// replicaHarness holds a replica core, the time, and a model of its log.
type replicaHarness struct {
	r        *Replica
	now      Instant
	leo      int64
	flushed  int64
	appends  map[RequestID]AppendBatches
	reads    map[RequestID]ReadRecords
	advances map[RequestID]AdvanceLogStart
	lastHW   int64
}

func (h *replicaHarness) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && h.r == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	var id RequestID
	td.MaybeScanArgs(t, "id", &id)
	switch td.Cmd {
	case "new":
		h.newReplica(t, td)
	case "produce":
		h.produce(t, td, id)
	case "append-done":
		h.appendDone(t, td, id)
	case "flushed":
		var offset int64
		td.ScanArgs(t, "offset", &offset)
		h.flushed = offset
		h.r.Flushed(offset)
	case "fetch":
		var p FetchPartition
		p.CurrentLeaderEpoch, p.PartitionMaxBytes = -1, 1<<20
		td.ScanArgs(t, "offset", &p.FetchOffset)
		td.MaybeScanArgs(t, "epoch", &p.CurrentLeaderEpoch)
		td.MaybeScanArgs(t, "max-bytes", &p.PartitionMaxBytes)
		h.r.Fetch(id, p, isolationArg(td))
	case "read-done":
		h.readDone(t, td, id)
	case "watch":
		w := Watch{Partition: FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20}, Isolation: isolationArg(td), ReadOnWake: td.HasArg("read")}
		td.ScanArgs(t, "offset", &w.Partition.FetchOffset)
		td.ScanArgs(t, "deadline", &w.DeadlineMs)
		td.MaybeScanArgs(t, "epoch", &w.Partition.CurrentLeaderEpoch)
		h.r.Watch(id, w)
	case "tick":
		mono := cmdTime(t, td)
		if mono < h.now.MonoMs {
			td.Fatalf(t, "monotonic time goes back from %d to %d", h.now.MonoMs, mono)
		}
		h.now = Instant{WallMs: h.now.WallMs + mono - h.now.MonoMs, MonoMs: mono}
		td.MaybeScanArgs(t, "wall", &h.now.WallMs)
		h.r.Tick(h.now)
	case "list-offsets":
		req := ListOffsetsRequest{CurrentLeaderEpoch: -1, IsolationLevel: isolationArg(td)}
		td.ScanArgs(t, "ts", &req.TimestampMs)
		td.MaybeScanArgs(t, "epoch", &req.CurrentLeaderEpoch)
		h.r.ListOffsets(id, req)
	case "lookup-done":
		h.lookupDone(t, td, id)
	case "delete-records":
		var offset int64
		td.ScanArgs(t, "offset", &offset)
		h.r.DeleteRecords(id, offset)
	case "advance-done":
		adv, ok := h.advances[id]
		if !ok {
			td.Fatalf(t, "no log start advance for %d", id)
		}
		delete(h.advances, id)
		if td.HasArg("error") {
			h.r.LogStartAdvanced(id, -1, errors.New("write log-start-offset-checkpoint: input/output error"))
		} else {
			h.r.LogStartAdvanced(id, adv.Offset, nil)
		}
	case "retention-done":
		var start int64
		td.ScanArgs(t, "start", &start)
		h.r.RetentionApplied(start)
	case "compaction-planned":
		h.r.CompactionPlanned(td.HasArg("started"))
	case "compaction-done":
		var err error
		if td.HasArg("error") {
			err = errors.New("context canceled")
		}
		h.r.CompactionFinished(err)
	case "set-config":
		h.r.SetConfig(TopicSettings{Replica: h.config(t, td), Log: logstore.Config{CleanupPolicyCompact: td.HasArg("compact")}})
	case "state":
		return h.state()
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return h.ready()
}

func (h *replicaHarness) config(t *testing.T, td *datadriven.TestData) ReplicaConfig {
	cfg := testReplicaConfig()
	cfg.DurableHighWatermark, cfg.Compacted = td.HasArg("durable"), td.HasArg("compact")
	td.MaybeScanArgs(t, "min-isr", &cfg.MinInsyncReplicas)
	if td.HasArg("log-append-time") {
		cfg.TimestampType = LogAppendTime
	}
	return cfg
}

func (h *replicaHarness) newReplica(t *testing.T, td *datadriven.TestData) {
	var st ReplicaState
	td.MaybeScanArgs(t, "epoch", &st.LeaderEpoch)
	td.MaybeScanArgs(t, "start", &st.LogStartOffset)
	td.MaybeScanArgs(t, "end", &st.LogEndOffset)
	st.FlushedOffset = st.LogEndOffset
	td.MaybeScanArgs(t, "flushed", &st.FlushedOffset)
	td.MaybeScanArgs(t, "hw", &st.HighWatermark)
	opts := ReplicaOptions{NodeID: 1, LogCleanerEnabled: !td.HasArg("no-cleaner")}
	td.MaybeScanArgs(t, "retention-check", &opts.RetentionCheckIntervalMs)
	*h = replicaHarness{leo: st.LogEndOffset, flushed: st.FlushedOffset,
		appends: map[RequestID]AppendBatches{}, reads: map[RequestID]ReadRecords{}, advances: map[RequestID]AdvanceLogStart{}}
	h.r = NewReplica(opts, TopicSettings{Replica: h.config(t, td)}, st, h.now)
	h.lastHW = st.HighWatermark
}

func (h *replicaHarness) produce(t *testing.T, td *datadriven.TestData, id RequestID) {
	req := ProduceRequest{TimeoutMs: 30_000}
	var acks string
	var n int
	td.ScanArgs(t, "acks", &acks)
	td.ScanArgs(t, "records", &n)
	td.MaybeScanArgs(t, "timeout", &req.TimeoutMs)
	ts := h.now.WallMs
	td.MaybeScanArgs(t, "ts", &ts)
	switch acks {
	case "all":
		req.Acks = -1
	default:
		fmt.Sscan(acks, &req.Acks)
	}
	req.Records = testBatch(t, n, ts, ts, 0)
	h.r.Produce(id, req, h.now)
}

func (h *replicaHarness) appendDone(t *testing.T, td *datadriven.TestData, id RequestID) {
	ap, ok := h.appends[id]
	if !ok {
		td.Fatalf(t, "no append for %d", id)
	}
	delete(h.appends, id)
	var kind string
	td.MaybeScanArgs(t, "error", &kind)
	switch kind {
	case "":
	case "storage":
		h.r.AppendCompleted(id, AppendOutcome{}, errors.New("write 00000000000000000000.log: no space left on device"))
		return
	case "corrupt":
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("append: %w", logstore.ErrCorruption))
		return
	case "too-large":
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("batch exceeds segment.bytes: %w", kerr.RecordListTooLarge))
		return
	default:
		td.Fatalf(t, "unknown append error %q", kind)
	}
	b, err := logstore.ParseBatch(ap.Batches[0])
	if err != nil {
		td.Fatalf(t, "appended batch: %v", err)
	}
	base := h.leo
	h.leo += int64(b.LastOffsetDelta) + 1
	td.MaybeScanArgs(t, "flushed", &h.flushed)
	h.r.AppendCompleted(id, AppendOutcome{BaseOffset: base, LogEndOffset: h.leo, FlushedOffset: h.flushed}, nil)
}

func (h *replicaHarness) readDone(t *testing.T, td *datadriven.TestData, id RequestID) {
	rr, ok := h.reads[id]
	if !ok {
		td.Fatalf(t, "no read for %d", id)
	}
	delete(h.reads, id)
	var kind string
	td.MaybeScanArgs(t, "error", &kind)
	switch kind {
	case "":
		h.r.ReadCompleted(id, &logstore.Records{FirstOffset: rr.Offset, NextOffset: rr.MaxOffset}, nil)
	case "out-of-range":
		h.r.ReadCompleted(id, nil, fmt.Errorf("read offset %d: %w", rr.Offset, kerr.OffsetOutOfRange))
	case "corrupt":
		h.r.ReadCompleted(id, nil, fmt.Errorf("read offset %d: crc mismatch: %w", rr.Offset, logstore.ErrCorruption))
	case "io":
		h.r.ReadCompleted(id, nil, errors.New("read 00000000000000000000.log: input/output error"))
	default:
		td.Fatalf(t, "unknown read error %q", kind)
	}
}

func (h *replicaHarness) lookupDone(t *testing.T, td *datadriven.TestData, id RequestID) {
	var kind string
	td.MaybeScanArgs(t, "error", &kind)
	switch {
	case kind == "io":
		h.r.TimestampLookedUp(id, logstore.TimestampOffset{}, false, errors.New("read 00000000000000000000.timeindex: input/output error"))
	case kind == "corrupt":
		h.r.TimestampLookedUp(id, logstore.TimestampOffset{}, false, fmt.Errorf("offset for timestamp: %w", logstore.ErrCorruption))
	case td.HasArg("none"):
		h.r.TimestampLookedUp(id, logstore.TimestampOffset{}, false, nil)
	default:
		var to logstore.TimestampOffset
		td.ScanArgs(t, "offset", &to.Offset)
		td.ScanArgs(t, "ts", &to.TimestampMs)
		h.r.TimestampLookedUp(id, to, true, nil)
	}
}

// ready takes the core's Ready, records the I/O it asks for, and prints it
// one effect a line, in the order the shell carries it out.
func (h *replicaHarness) ready() string {
	rd := h.r.Ready()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if rd.ConfigureLog != nil {
		p("configure-log compact=%t", rd.ConfigureLog.CleanupPolicyCompact)
	}
	for _, ap := range rd.Appends {
		h.appends[ap.ID] = ap
		bt, _ := logstore.ParseBatch(ap.Batches[0])
		p("append id=%d records=%d epoch=%d now=%d", ap.ID, bt.NumRecords, ap.LeaderEpoch, ap.NowMs)
	}
	for _, off := range rd.AwaitDurable {
		p("await-durable %d", off)
	}
	for _, rr := range rd.Reads {
		h.reads[rr.ID] = rr
		p("read id=%d offset=%d max-bytes=%d max-offset=%d", rr.ID, rr.Offset, rr.MaxBytes, rr.MaxOffset)
	}
	for _, l := range rd.Lookups {
		if l.MaxTimestamp {
			p("lookup id=%d max-timestamp", l.ID)
		} else {
			p("lookup id=%d timestamp=%d", l.ID, l.TimestampMs)
		}
	}
	for _, a := range rd.LogStartAdvances {
		h.advances[a.ID] = a
		p("advance-log-start id=%d offset=%d", a.ID, a.Offset)
	}
	if rd.TickLog != nil {
		p("tick-log now=%d", rd.TickLog.NowMs)
	}
	if rd.DeleteRetainedSegments != nil {
		p("delete-retained-segments now=%d", rd.DeleteRetainedSegments.NowMs)
	}
	if rd.PlanCompaction != nil {
		p("plan-compaction now=%d max-offset=%d", rd.PlanCompaction.NowMs, rd.PlanCompaction.MaxOffset)
	}
	if rd.FinishCompaction != nil {
		p("finish-compaction commit=%t", rd.FinishCompaction.Commit)
	}
	h.printReplies(&b, rd)
	if rd.Fatal != nil {
		p("fatal: %v", rd.Fatal)
	}
	if hw := h.r.HighWatermark(); hw != h.lastHW {
		p("high watermark %d -> %d", h.lastHW, hw)
		h.lastHW = hw
	}
	return b.String()
}

func (h *replicaHarness) printReplies(b *strings.Builder, rd Ready) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	for _, rep := range rd.ProduceReplies {
		if rep.ErrorCode != 0 {
			p("produce-reply id=%d error=%s %q", rep.ID, errName(rep.ErrorCode), rep.ErrorMessage)
			continue
		}
		p("produce-reply id=%d base-offset=%d append-time=%d log-start=%d", rep.ID, rep.BaseOffset, rep.LogAppendTimeMs, rep.LogStartOffset)
	}
	for _, rep := range rd.FetchReplies {
		recs := "none"
		if rep.Records != nil {
			recs = fmt.Sprintf("[%d,%d)", rep.Records.FirstOffset, rep.Records.NextOffset)
		}
		p("fetch-reply id=%d error=%s hw=%d lso=%d log-start=%d records=%s", rep.ID, errName(rep.ErrorCode), rep.HighWatermark, rep.LastStableOffset, rep.LogStartOffset, recs)
	}
	for _, rep := range rd.ListOffsetsReplies {
		p("list-offsets-reply id=%d error=%s offset=%d timestamp=%d epoch=%d", rep.ID, errName(rep.ErrorCode), rep.Offset, rep.TimestampMs, rep.LeaderEpoch)
	}
	for _, rep := range rd.DeleteRecordsReplies {
		p("delete-records-reply id=%d error=%s low-watermark=%d", rep.ID, errName(rep.ErrorCode), rep.LowWatermark)
	}
	for _, w := range rd.Woken {
		if w.Expired {
			p("woken id=%d expired", w.ID)
		} else {
			p("woken id=%d", w.ID)
		}
	}
}

func (h *replicaHarness) state() string {
	next := "none"
	if d := h.r.NextDeadlineMs(); d != math.MaxInt64 {
		next = fmt.Sprint(d)
	}
	return fmt.Sprintf("log-start=%d hw=%d lso=%d leo=%d epoch=%d pending=%v next-deadline=%s\n",
		h.r.LogStartOffset(), h.r.HighWatermark(), h.r.LastStableOffset(), h.r.LogEndOffset(), h.r.LeaderEpoch(), h.r.PendingRequests(), next)
}

package cluster

import (
	"errors"
	"fmt"
	"math"
	"slices"
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
//	    [min-isr=N] [no-cleaner] [retention-check=MS] [cleaner-backoff=MS]
//	    [log-append-time]
//	    [replicas=(1,2,..)] [isr=(..)] [leader=L] [partition-epoch=P]
//	    [lag=MS] [log-epoch=E|no-epochs] [truncate-on-fetch]
//	partition-changed [leader=L] [epoch=E] [partition-epoch=P] [isr=(..)] [replicas=(..)]
//	    [elr=(..)] [last-known-elr=(..)]
//	follower-fetch id=I replica=R offset=O [epoch=E] [log-start=S] [broker-epoch=B] [last-epoch=L]
//	offset-for-epoch id=I epoch=E [current=C]
//	alter-done [seq=S] (error=NAME | isr=(..) partition-epoch=P [epoch=E])
//	epoch-start-done [error]
//	replication
//	produce id=I acks=0|1|all records=N [timeout=MS] [ts=T] [pid=P [pepoch=E] seq=S [txn] [txn-id=T] [add|abortable]]
//	                      (add: the request may add the partition to the
//	                      transaction, TxnAddPartition; abortable: a client
//	                      that knows TRANSACTION_ABORTABLE, TxnVerifyAbortable)
//	txn-verified id=I [error=NAME]
//	txn-added pid=P [pepoch=E]
//	marker id=I pid=P [pepoch=E] [cepoch=C] [commit] [tv=V]   (tv: the marker's transaction version)
//	producers
//	append-done id=I [error=storage|corrupt|too-large] [flushed=F]
//	flushed offset=F
//	fetch id=I offset=O [epoch=E] [max-bytes=B] [committed] [log-end]
//	read-done id=I [empty] [error=out-of-range|corrupt|io]
//	                      (empty: the log holds no batch from the read's
//	                      offset to its max offset)
//	raise-done [error]    (the RaiseLogStart asked for)
//	watch id=I offset=O deadline=MS [epoch=E] [read] [committed] [fetcher=F]
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
	// raising is the RaiseLogStart with the harness, nil for none.
	raising *RaiseLogStart
	lastHW  int64
	// lastRole and lastAlterSeq are what the harness printed last: the
	// replica's role, the seq of its last AlterPartition.
	lastRole, lastISR string
	lastAlterSeq      uint64
	// preamble is printed before the next Ready.
	preamble string
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
	case "producers":
		return formatProducers(h.r.Producers())
	case "marker":
		m := TxnMarker{Commit: td.HasArg("commit")}
		td.ScanArgs(t, "pid", &m.ProducerID)
		td.MaybeScanArgs(t, "pepoch", &m.ProducerEpoch)
		td.MaybeScanArgs(t, "cepoch", &m.CoordinatorEpoch)
		if td.HasArg("tv") {
			var tv int
			td.ScanArgs(t, "tv", &tv)
			m.TransactionVersion = int8(tv)
		}
		h.r.Produce(id, ProduceRequest{Acks: -1, Marker: &m}, h.now)
	case "produce":
		h.produce(t, td, id)
	case "txn-added":
		var pid int64
		var epoch int16
		td.ScanArgs(t, "pid", &pid)
		td.MaybeScanArgs(t, "pepoch", &epoch)
		h.r.TxnPartitionAdded(pid, epoch)
	case "txn-verified":
		code := int16(0)
		if td.HasArg("error") {
			var name string
			td.ScanArgs(t, "error", &name)
			code = errCodeNamed(t, name)
		}
		h.r.TxnVerified(id, code, h.now)
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
		p.ToLogEnd = td.HasArg("log-end")
		h.r.Fetch(id, p, isolationArg(td))
	case "read-done":
		h.readDone(t, td, id)
	case "watch":
		w := Watch{Partition: FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20}, Isolation: isolationArg(td), ReadOnWake: td.HasArg("read")}
		td.ScanArgs(t, "offset", &w.Partition.FetchOffset)
		td.ScanArgs(t, "deadline", &w.DeadlineMs)
		td.MaybeScanArgs(t, "epoch", &w.Partition.CurrentLeaderEpoch)
		td.MaybeScanArgs(t, "wait-past", &w.WaitPast)
		td.MaybeScanArgs(t, "fetcher", &w.Fetcher)
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
		timeoutMs := int32(30000)
		td.ScanArgs(t, "offset", &offset)
		td.MaybeScanArgs(t, "timeout", &timeoutMs)
		h.r.DeleteRecords(id, offset, timeoutMs, h.now)
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
	case "raise-done":
		if h.raising == nil {
			td.Fatalf(t, "no log start raise asked for")
		}
		rl := h.raising
		h.raising = nil
		if td.HasArg("error") {
			h.r.LogStartRaised(h.r.LogStartOffset(), errors.New("write log-start-offset-checkpoint: input/output error"))
		} else {
			h.r.LogStartRaised(rl.Offset, nil)
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
	case "ineligible-replicas":
		ids, _ := argInt32s(t, td, "ids")
		// broker-epochs=(id:epoch,...): the image's broker epochs.
		var epochs map[int32]int64
		if td.HasArg("broker-epochs") {
			epochs = map[int32]int64{}
			for _, a := range td.CmdArgs {
				if a.Key != "broker-epochs" {
					continue
				}
				for _, v := range a.Vals {
					var id int32
					var epoch int64
					if _, err := fmt.Sscanf(v, "%d:%d", &id, &epoch); err != nil {
						td.Fatalf(t, "broker-epochs: %q: %v", v, err)
					}
					epochs[id] = epoch
				}
			}
		}
		h.r.SetIneligibleReplicas(ids, epochs, h.now)
	case "partition-changed":
		h.r.PartitionChanged(h.partitionArgs(t, td, h.r.partitionImage()), h.now)
	case "follower-fetch":
		p := FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20, Follower: &FollowerFetch{FetchedAtMs: h.now.MonoMs, BrokerEpoch: -1, LastFetchedEpoch: -1}}
		td.ScanArgs(t, "replica", &p.Follower.ReplicaID)
		td.MaybeScanArgs(t, "broker-epoch", &p.Follower.BrokerEpoch)
		td.ScanArgs(t, "offset", &p.FetchOffset)
		td.MaybeScanArgs(t, "epoch", &p.CurrentLeaderEpoch)
		td.MaybeScanArgs(t, "log-start", &p.Follower.LogStartOffset)
		td.MaybeScanArgs(t, "last-epoch", &p.Follower.LastFetchedEpoch)
		h.r.Fetch(id, p, ReadUncommitted)
	case "fetch-view", "view-fetch", "view-wakes":
		return h.fetchViewCmd(t, td)
	case "follower-watch":
		w := Watch{Partition: FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20, Follower: &FollowerFetch{FetchedAtMs: h.now.MonoMs, BrokerEpoch: -1, LastFetchedEpoch: -1}}, ReadOnWake: td.HasArg("read")}
		td.ScanArgs(t, "replica", &w.Partition.Follower.ReplicaID)
		td.ScanArgs(t, "offset", &w.Partition.FetchOffset)
		td.ScanArgs(t, "deadline", &w.DeadlineMs)
		h.r.Watch(id, w)
	case "offset-for-epoch":
		req := OffsetForLeaderEpochRequest{CurrentLeaderEpoch: -1}
		td.ScanArgs(t, "epoch", &req.LeaderEpoch)
		td.MaybeScanArgs(t, "current", &req.CurrentLeaderEpoch)
		h.r.OffsetForLeaderEpoch(id, req)
	case "alter-done":
		h.alterDone(t, td)
	case "epoch-start-done":
		if td.HasArg("error") {
			h.r.EpochStartAssigned(nil, fmt.Errorf("assign leader epoch: %w", kerr.FencedLeaderEpoch))
		} else {
			h.r.EpochStartAssigned(append(slices.Clone(h.r.LeaderEpochs()), logstore.EpochEntry{Epoch: h.r.LeaderEpoch(), StartOffset: h.leo}), nil)
		}
	case "replication":
		return h.replication()
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
	st.Partition = h.partitionArgs(t, td, PartitionImage{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	td.MaybeScanArgs(t, "start", &st.LogStartOffset)
	logEpoch := st.Partition.LeaderEpoch
	td.MaybeScanArgs(t, "log-epoch", &logEpoch)
	if !td.HasArg("no-epochs") {
		st.LeaderEpochs = []logstore.EpochEntry{{Epoch: logEpoch, StartOffset: st.LogStartOffset}}
		// epoch-from starts the partition's leader epoch in the log there,
		// after log-epoch's records.
		if td.HasArg("epoch-from") {
			var from int64
			td.ScanArgs(t, "epoch-from", &from)
			st.LeaderEpochs = append(st.LeaderEpochs, logstore.EpochEntry{Epoch: st.Partition.LeaderEpoch, StartOffset: from})
		}
	}
	td.MaybeScanArgs(t, "end", &st.LogEndOffset)
	st.FlushedOffset = st.LogEndOffset
	td.MaybeScanArgs(t, "flushed", &st.FlushedOffset)
	td.MaybeScanArgs(t, "hw", &st.HighWatermark)
	opts := ReplicaOptions{NodeID: 1, LogCleanerEnabled: !td.HasArg("no-cleaner"), TruncateOnFetch: td.HasArg("truncate-on-fetch")}
	td.MaybeScanArgs(t, "retention-check", &opts.RetentionCheckIntervalMs)
	td.MaybeScanArgs(t, "cleaner-backoff", &opts.CleanerBackoffMs)
	td.MaybeScanArgs(t, "lag", &opts.ReplicaLagTimeMaxMs)
	*h = replicaHarness{leo: st.LogEndOffset, flushed: st.FlushedOffset,
		appends: map[RequestID]AppendBatches{}, reads: map[RequestID]ReadRecords{}, advances: map[RequestID]AdvanceLogStart{}}
	h.r = NewReplica(opts, TopicSettings{Replica: h.config(t, td)}, st, h.now)
	h.lastHW = st.HighWatermark
	h.lastRole, h.lastISR = roleLine(h.r), isrLine(h.r)
	// A leader alone is what every script starts with unless it says.
	if !h.r.IsLeader() || !slices.Equal(h.r.Replicas(), []int32{1}) {
		h.preamble = "became " + h.lastRole
		if h.lastISR != "" {
			h.preamble += " " + h.lastISR
		}
	}
}

// partitionArgs is p with the fields the command sets.
func (h *replicaHarness) partitionArgs(t *testing.T, td *datadriven.TestData, p PartitionImage) PartitionImage {
	td.MaybeScanArgs(t, "leader", &p.Leader)
	td.MaybeScanArgs(t, "epoch", &p.LeaderEpoch)
	td.MaybeScanArgs(t, "partition-epoch", &p.PartitionEpoch)
	if v, ok := argInt32s(t, td, "replicas"); ok {
		p.Replicas = v
	}
	if v, ok := argInt32s(t, td, "isr"); ok {
		p.ISR = v
	}
	if v, ok := argInt32s(t, td, "elr"); ok {
		p.ELR = v
	}
	if v, ok := argInt32s(t, td, "last-known-elr"); ok {
		p.LastKnownELR = v
	}
	return p
}

// partitionImage is the record the replica applied, for partition-changed
// to edit.
func (r *Replica) partitionImage() PartitionImage {
	p := r.partition
	p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	p.ELR, p.LastKnownELR = slices.Clone(p.ELR), slices.Clone(p.LastKnownELR)
	return p
}

// argInt32s reads a list argument key=(1,2,3); key=() is the empty list.
func argInt32s(t *testing.T, td *datadriven.TestData, key string) ([]int32, bool) {
	for _, a := range td.CmdArgs {
		if a.Key != key {
			continue
		}
		out := []int32{}
		for _, v := range a.Vals {
			if v == "" {
				continue
			}
			var n int32
			if _, err := fmt.Sscan(v, &n); err != nil {
				td.Fatalf(t, "%s: %v", key, err)
			}
			out = append(out, n)
		}
		return out, true
	}
	return nil, false
}

// roleLine says what the replica is: leader or follower, with the epoch.
func roleLine(r *Replica) string {
	if r.IsLeader() {
		return fmt.Sprintf("leader epoch=%d", r.LeaderEpoch())
	}
	return fmt.Sprintf("follower of %d epoch=%d", r.Leader(), r.LeaderEpoch())
}

// isrLine is a leader's committed ISR and partition epoch.
func isrLine(r *Replica) string {
	if !r.IsLeader() {
		return ""
	}
	return fmt.Sprintf("isr=%v partition-epoch=%d", r.ISR(), r.PartitionEpoch())
}

func (h *replicaHarness) alterDone(t *testing.T, td *datadriven.TestData) {
	res := AlterPartitionResult{Seq: h.lastAlterSeq, LeaderEpoch: h.r.LeaderEpoch()}
	td.MaybeScanArgs(t, "seq", &res.Seq)
	var name string
	if td.MaybeScanArgs(t, "error", &name); name != "" {
		res.ErrorCode = errCode(t, td, name)
	} else {
		res.ISR, _ = argInt32s(t, td, "isr")
		td.ScanArgs(t, "partition-epoch", &res.PartitionEpoch)
		td.MaybeScanArgs(t, "epoch", &res.LeaderEpoch)
	}
	h.r.AlterPartitionCompleted(res, h.now)
}

// replication prints the leader's view of replication: its ISR (and the one
// it asked for), and each follower's progress.
func (h *replicaHarness) replication() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", roleLine(h.r), isrLine(h.r))
	if p := h.r.PendingISR(); p != nil {
		fmt.Fprintf(&b, " pending-isr=%v", p)
	}
	b.WriteString("\n")
	for _, f := range h.r.Followers() {
		caught := "never"
		if f.LastCaughtUpTimeMs != neverMs {
			caught = fmt.Sprint(f.LastCaughtUpTimeMs)
		}
		fmt.Fprintf(&b, "follower %d: leo=%d log-start=%d caught-up=%s in-sync=%t\n", f.ReplicaID, f.LogEndOffset, f.LogStartOffset, caught, f.InSync)
	}
	return b.String()
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
	if td.HasArg("pid") {
		// An idempotent producer's batch: pid=P pepoch=E seq=S.
		b, err := logstore.ParseBatch(req.Records)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		b.ProducerEpoch = 0
		td.ScanArgs(t, "pid", &b.ProducerID)
		td.MaybeScanArgs(t, "pepoch", &b.ProducerEpoch)
		td.ScanArgs(t, "seq", &b.FirstSequence)
		if td.HasArg("txn") {
			b.Attributes |= 0x10
		}
		td.MaybeScanArgs(t, "txn-id", &req.TransactionalID)
		if td.HasArg("add") {
			req.TxnOperation = TxnAddPartition
		}
		if td.HasArg("abortable") {
			req.TxnOperation = TxnVerifyAbortable
		}
		req.Records = b.RecordBatch.AppendTo(nil)
		logstore.ChecksumBatch(req.Records)
	}
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
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("append 70 bytes to 00000000000000000000.log at position 0: %w: no space left on device", kerr.KafkaStorageError))
		return
	case "corrupt":
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("append: %w", logstore.ErrCorruption))
		return
	case "too-large":
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("batch exceeds segment.bytes: %w", kerr.RecordListTooLarge))
		return
	case "failed":
		h.r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("log failed earlier and must be reopened: %w: truncate back after a failed append: input/output error", logstore.ErrFailed))
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
		next := rr.MaxOffset
		if td.HasArg("empty") {
			next = rr.Offset
		}
		h.r.ReadCompleted(id, &logstore.Records{FirstOffset: rr.Offset, NextOffset: next}, nil)
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
	if h.preamble != "" {
		p("%s", h.preamble)
		h.preamble = ""
	}
	if role, isr := roleLine(h.r), isrLine(h.r); role != h.lastRole {
		p("%s", strings.TrimSpace("became "+role+" "+isr))
		h.lastRole, h.lastISR = role, isr
	} else if isr != h.lastISR {
		p("%s", isr)
		h.lastISR = isr
	}
	if rd.ConfigureLog != nil {
		p("configure-log compact=%t", rd.ConfigureLog.CleanupPolicyCompact)
	}
	if a := rd.AssignEpochStart; a != nil {
		p("assign-epoch-start epoch=%d", a.Epoch)
	}
	if rl := rd.RaiseLogStart; rl != nil {
		h.raising = rl
		p("raise-log-start offset=%d", rl.Offset)
	}
	for _, ap := range rd.Appends {
		h.appends[ap.ID] = ap
		bt, _ := logstore.ParseBatch(ap.Batches[0])
		p("append id=%d records=%d epoch=%d now=%d", ap.ID, bt.NumRecords, ap.LeaderEpoch, ap.NowMs)
	}
	for _, v := range rd.VerifyTxns {
		if v.Add {
			p("add-to-txn id=%d txn-id=%s pid=%d pepoch=%d", v.ID, v.TransactionalID, v.ProducerID, v.ProducerEpoch)
		} else {
			p("verify-txn id=%d txn-id=%s pid=%d pepoch=%d", v.ID, v.TransactionalID, v.ProducerID, v.ProducerEpoch)
		}
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
		p("delete-retained-segments now=%d hw=%d", rd.DeleteRetainedSegments.NowMs, rd.DeleteRetainedSegments.HighWatermark)
	}
	if rd.PlanCompaction != nil {
		p("plan-compaction now=%d max-offset=%d", rd.PlanCompaction.NowMs, rd.PlanCompaction.MaxOffset)
	}
	if rd.FinishCompaction != nil {
		p("finish-compaction commit=%t", rd.FinishCompaction.Commit)
	}
	if len(rd.ExpireProducers) > 0 {
		p("expire-producers %v", rd.ExpireProducers)
	}
	if a := rd.AlterPartition; a != nil {
		h.lastAlterSeq = a.Seq
		line := fmt.Sprintf("alter-partition seq=%d leader-epoch=%d partition-epoch=%d isr=%v", a.Seq, a.LeaderEpoch, a.PartitionEpoch, a.ISR)
		if slices.ContainsFunc(a.BrokerEpochs, func(e int64) bool { return e != -1 }) {
			line += fmt.Sprintf(" broker-epochs=%v", a.BrokerEpochs)
		}
		p("%s", line)
	}
	if st := rd.FetchState; st != nil {
		p("%s", fetchStateLine(*st))
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
			p("produce-reply id=%d error=%s %q%s", rep.ID, errName(rep.ErrorCode), rep.ErrorMessage, hintSuffix(rep.CurrentLeader))
			continue
		}
		p("produce-reply id=%d base-offset=%d append-time=%d log-start=%d", rep.ID, rep.BaseOffset, rep.LogAppendTimeMs, rep.LogStartOffset)
	}
	for _, rep := range rd.FetchReplies {
		recs := "none"
		if rep.Records != nil {
			recs = fmt.Sprintf("[%d,%d)", rep.Records.FirstOffset, rep.Records.NextOffset) + emptyBatchesSuffix(rep.Records)
		}
		div := ""
		if d := rep.Diverging; d != nil {
			div = fmt.Sprintf(" diverging=(epoch=%d end=%d)", d.Epoch, d.EndOffset)
		}
		p("fetch-reply id=%d error=%s hw=%d lso=%d log-start=%d records=%s%s%s", rep.ID, errName(rep.ErrorCode), rep.HighWatermark, rep.LastStableOffset, rep.LogStartOffset, recs, div, hintSuffix(rep.CurrentLeader))
	}
	for _, rep := range rd.ListOffsetsReplies {
		p("list-offsets-reply id=%d error=%s offset=%d timestamp=%d epoch=%d", rep.ID, errName(rep.ErrorCode), rep.Offset, rep.TimestampMs, rep.LeaderEpoch)
	}
	for _, rep := range rd.DeleteRecordsReplies {
		p("delete-records-reply id=%d error=%s low-watermark=%d", rep.ID, errName(rep.ErrorCode), rep.LowWatermark)
	}
	for _, rep := range rd.EpochEndReplies {
		p("epoch-end-reply id=%d error=%s epoch=%d end-offset=%d", rep.ID, errName(rep.ErrorCode), rep.LeaderEpoch, rep.EndOffset)
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

// fetchStateLine prints a follower's published fetch state.
func fetchStateLine(st FollowerFetchState) string {
	line := fmt.Sprintf("fetch-state seq=%d leader=%d epoch=%d %s fetch-offset=%d log-start=%d last-fetched-epoch=%d",
		st.Seq, st.Leader, st.CurrentLeaderEpoch, st.Phase, st.FetchOffset, st.LogStartOffset, st.LastFetchedEpoch)
	if st.Backoff {
		line += " backoff"
	}
	return line
}

// hintSuffix prints a leader hint, if the reply gives one.
func hintSuffix(h LeaderHint) string {
	if h == noLeaderHint {
		return ""
	}
	return fmt.Sprintf(" current-leader=%d/%d", h.LeaderID, h.LeaderEpoch)
}

// formatProducers prints a producer state, a line per producer id.
func formatProducers(st *logstore.ProducerStates) string {
	if st.Len() == 0 {
		return "no producers\n"
	}
	var b strings.Builder
	for _, id := range st.IDs() {
		e, _ := st.Get(id)
		fmt.Fprintf(&b, "producer %d epoch=%d last-seq=%d txn-first-offset=%d coordinator-epoch=%d batches=", id, e.ProducerEpoch, e.LastSequence(), e.TxnFirstOffset, e.CoordinatorEpoch)
		for i, bt := range e.Batches {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%d-%d@%d", bt.FirstSequence, bt.LastSequence, bt.FirstOffset)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// errCodeNamed is the code of a Kafka error name (errName's inverse).
func errCodeNamed(t *testing.T, name string) int16 {
	for code := int16(-1); code < 200; code++ {
		if errName(code) == name {
			return code
		}
	}
	t.Fatalf("unknown error %q", name)
	return 0
}

// emptyBatchesSuffix lists the batches of records the core made itself (the
// harness's reads hold no bytes): the empty batches of an empty stretch,
// as first-last@epoch.
func emptyBatchesSuffix(recs *logstore.Records) string {
	raw, err := recs.Bytes()
	if err != nil || len(raw) == 0 {
		return ""
	}
	var parts []string
	for len(raw) > 0 {
		size, err := logstore.BatchSize(raw)
		if err != nil || size > len(raw) {
			return " bad-batches"
		}
		b, err := logstore.ParseBatch(raw[:size])
		if err != nil || !logstore.IsEmptyStretchBatch(&b) {
			return " bad-batches"
		}
		parts = append(parts, fmt.Sprintf("%d-%d@%d", b.FirstOffset, b.LastOffset(), b.PartitionLeaderEpoch))
		raw = raw[size:]
	}
	return " empty-batches=[" + strings.Join(parts, " ") + "]"
}

package cluster

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// TestFollowerScripts runs testdata/follower: one replica core (node 1) over
// a real log on an in-memory filesystem, whose leader is the script: it
// answers the follower's OffsetForLeaderEpoch and Fetch requests. The node
// carries out the core's log effects at once (testNode) and prints them,
// with the fetch states the follower publishes. Time is one number.
//
//	log batches=(BATCH,..) [sync]    a fresh log for new (appended as follower)
//	new [leader=L] [epoch=E] [partition-epoch=P] [replicas=(..)] [isr=(..)] [hw=H] [lag=MS] [truncate-on-fetch]
//	partition-changed [leader=L] [epoch=E] [partition-epoch=P] [isr=(..)] [replicas=(..)]
//	epoch-end [seq=S] (epoch=E end=O | error=NAME)
//	fetched [seq=S] [batches=(..)] [cut=BYTES] [corrupt] [hw=H] [log-start=L] [error=NAME] [diverging=(E,O)]
//	crash [keep-unsynced]
//	restart [leader=L] [epoch=E] ...
//	sync
//	produce acks=0|1|all records=N
//	follower-fetch replica=R offset=O [epoch=E]
//	offset-for-epoch epoch=E [current=C]
//	set-truncate-on-fetch [on]     Replica.SetTruncateOnFetch
//	tick T
//	state
//	producers
//	lso
//
// A BATCH is BASE:COUNT@EPOCH (records of no producer), with /PID:SEQ an
// idempotent producer's, with /PID:SEQ:txn a transactional one's; or
// BASE:commit@EPOCH/PID or BASE:abort@EPOCH/PID, a producer's transaction
// marker; or BASE-LAST:empty@EPOCH, an empty batch a leader answers over a
// stretch of its log that holds no batch (logstore.EmptyBatch).
func TestFollowerScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/follower", func(t *testing.T, path string) {
		h := &followerHarness{fs: vfs.NewMem()}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type followerHarness struct {
	fs       *vfs.Mem
	n        *testNode
	now      Instant
	record   PartitionImage
	lastHW   int64
	lastRole string
	nextID   RequestID
}

func (h *followerHarness) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "log", "new":
	default:
		if h.n == nil {
			td.Fatalf(t, "%s before new", td.Cmd)
		}
	}
	switch td.Cmd {
	case "log":
		h.writeLog(t, td)
		return ""
	case "new":
		h.newNode(t, td)
	case "partition-changed":
		h.record = (&replicaHarness{}).partitionArgs(t, td, h.record)
		h.n.r.PartitionChanged(h.record, h.now)
	case "epoch-end":
		o := EpochEndOutcome{Seq: h.n.r.FetchState().Seq}
		td.MaybeScanArgs(t, "seq", &o.Seq)
		var name string
		if td.MaybeScanArgs(t, "error", &name); name != "" {
			o.ErrorCode, o.LeaderEpoch, o.EndOffset = errCode(t, td, name), -1, -1
		} else {
			td.ScanArgs(t, "epoch", &o.LeaderEpoch)
			td.ScanArgs(t, "end", &o.EndOffset)
		}
		h.n.r.EpochEndOffsetFetched(o, h.now)
	case "fetched":
		h.fetched(t, td)
	case "crash":
		h.n.crash(td.HasArg("keep-unsynced"))
		return "crashed\n"
	case "restart":
		h.record = (&replicaHarness{}).partitionArgs(t, td, h.record)
		if err := h.n.restart(h.record); err != nil {
			td.Fatalf(t, "restart: %v", err)
		}
		h.lastHW, h.lastRole = -1, ""
	case "sync":
		if err := h.n.log.Sync(); err != nil {
			td.Fatalf(t, "sync: %v", err)
		}
	case "produce":
		var acks string
		var count int
		td.ScanArgs(t, "acks", &acks)
		td.ScanArgs(t, "records", &count)
		req := ProduceRequest{Records: testBatch(t, count, h.now.WallMs, h.now.WallMs, 0), TimeoutMs: 30_000}
		if acks == "all" {
			req.Acks = -1
		} else {
			fmt.Sscan(acks, &req.Acks)
		}
		h.nextID++
		h.n.r.Produce(h.nextID, req, h.now)
	case "follower-fetch":
		p := FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20, Follower: &FollowerFetch{FetchedAtMs: h.now.MonoMs, BrokerEpoch: -1, LastFetchedEpoch: -1}}
		td.ScanArgs(t, "replica", &p.Follower.ReplicaID)
		td.ScanArgs(t, "offset", &p.FetchOffset)
		td.MaybeScanArgs(t, "epoch", &p.CurrentLeaderEpoch)
		h.nextID++
		h.n.r.Fetch(h.nextID, p, ReadUncommitted)
	case "offset-for-epoch":
		req := OffsetForLeaderEpochRequest{CurrentLeaderEpoch: -1}
		td.ScanArgs(t, "epoch", &req.LeaderEpoch)
		td.MaybeScanArgs(t, "current", &req.CurrentLeaderEpoch)
		h.nextID++
		h.n.r.OffsetForLeaderEpoch(h.nextID, req)
	case "set-truncate-on-fetch":
		h.n.r.SetTruncateOnFetch(td.HasArg("on"))
	case "tick":
		ms := cmdTime(t, td)
		h.now = Instant{WallMs: ms, MonoMs: ms}
		h.n.now = h.now
		h.n.r.Tick(h.now)
	case "producers":
		// The core's producer state, which must be its log's.
		got, want := formatProducers(h.n.r.Producers()), formatProducers(h.n.log.ProducerStates())
		if got != want {
			td.Fatalf(t, "the core's producer state\n%sis not the log's\n%s", got, want)
		}
		return got
	case "lso":
		return fmt.Sprintf("lso=%d hw=%d\n", h.n.r.LastStableOffset(), h.n.r.HighWatermark())
	case "state":
		st := h.n.r.FetchState()
		return fmt.Sprintf("%s hw=%d\n%s\n%s\n", roleLine(h.n.r), h.n.r.HighWatermark(), fetchStateLine(st), h.n.logLine())
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return h.output()
}

// writeLog makes a fresh filesystem holding the node's log before it
// starts, as a follower's appends would have left it.
func (h *followerHarness) writeLog(t *testing.T, td *datadriven.TestData) {
	if h.n != nil && h.n.log != nil {
		_ = h.n.log.Close()
	}
	h.n, h.fs = nil, vfs.NewMem()
	if err := makeNodeDir(h.fs, "/node1/t-0"); err != nil {
		td.Fatalf(t, "mkdir: %v", err)
	}
	log, err := logstore.Open(logstore.Options{FS: h.fs, Dir: "/node1/t-0", Config: testLogConfig()})
	if err != nil {
		td.Fatalf(t, "open: %v", err)
	}
	batches := h.batchesArg(t, td, "batches")
	if _, err := log.AppendAsFollower(batches, 0); err != nil {
		td.Fatalf(t, "append: %v", err)
	}
	if td.HasArg("sync") {
		if err := log.Sync(); err != nil {
			td.Fatalf(t, "sync: %v", err)
		}
	}
	if err := log.Close(); err != nil {
		td.Fatalf(t, "close: %v", err)
	}
}

// batchesArg reads batches=(BATCH, ...) (see TestFollowerScripts).
func (h *followerHarness) batchesArg(t *testing.T, td *datadriven.TestData, key string) [][]byte {
	var out [][]byte
	for _, a := range td.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range a.Vals {
			if v == "" {
				continue
			}
			out = append(out, h.batchSpec(t, td, v))
		}
	}
	return out
}

// batchSpec makes one BATCH.
func (h *followerHarness) batchSpec(t *testing.T, td *datadriven.TestData, v string) []byte {
	var base int64
	var count int
	var epoch int32
	spec, producer, hasProducer := strings.Cut(v, "/")
	if strings.Contains(spec, ":empty@") { // BASE-LAST:empty@EPOCH, an empty stretch's batch
		var last int64
		if _, err := fmt.Sscanf(spec, "%d-%d:empty@%d", &base, &last, &epoch); err != nil {
			td.Fatalf(t, "empty batch %q: BASE-LAST:empty@EPOCH", v)
		}
		return logstore.EmptyBatch(base, last, epoch)
	}
	var kind string
	if _, err := fmt.Sscanf(strings.Replace(spec, ":", " ", 1), "%d %s", &base, &kind); err != nil {
		td.Fatalf(t, "batch %q: %v", v, err)
	}
	if marker, at, ok := strings.Cut(kind, "@"); ok && (marker == "commit" || marker == "abort") {
		var pid int64
		if _, err := fmt.Sscanf(at, "%d", &epoch); err != nil || !hasProducer {
			td.Fatalf(t, "marker %q: BASE:commit@EPOCH/PID", v)
		}
		if _, err := fmt.Sscanf(producer, "%d", &pid); err != nil {
			td.Fatalf(t, "marker %q: %v", v, err)
		}
		b := logstore.TxnMarkerBatch(pid, 0, 0, marker == "commit", 1_000)
		logstore.SetBatchBaseOffset(b, base)
		logstore.SetBatchLeaderEpoch(b, epoch)
		return b
	}
	if _, err := fmt.Sscanf(spec, "%d:%d@%d", &base, &count, &epoch); err != nil {
		td.Fatalf(t, "batch %q: %v", v, err)
	}
	b := leaderBatch(t, base, count, epoch)
	if hasProducer { // /PID:SEQ[:txn], a batch of an idempotent or transactional producer
		var pid int64
		var seq int32
		fields := strings.Split(producer, ":")
		if _, err := fmt.Sscanf(strings.Join(fields[:min(2, len(fields))], " "), "%d %d", &pid, &seq); err != nil || len(fields) > 3 || len(fields) == 3 && fields[2] != "txn" {
			td.Fatalf(t, "batch %q: /PID:SEQ[:txn]", v)
		}
		binary.BigEndian.PutUint64(b[43:], uint64(pid))
		binary.BigEndian.PutUint16(b[51:], 0)
		binary.BigEndian.PutUint32(b[53:], uint32(seq))
		if len(fields) == 3 {
			binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
		}
		logstore.ChecksumBatch(b)
	}
	return b
}

func (h *followerHarness) newNode(t *testing.T, td *datadriven.TestData) {
	if h.n != nil && h.n.log != nil {
		_ = h.n.log.Close()
	}
	h.record = (&replicaHarness{}).partitionArgs(t, td, PartitionImage{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 2})
	var hw int64
	td.MaybeScanArgs(t, "hw", &hw)
	opts := ReplicaOptions{TruncateOnFetch: td.HasArg("truncate-on-fetch")}
	td.MaybeScanArgs(t, "lag", &opts.ReplicaLagTimeMaxMs)
	n, err := newTestNode(1, h.fs, testReplicaConfig(), opts, h.record, hw, h.now)
	if err != nil {
		td.Fatalf(t, "new: %v", err)
	}
	h.n, h.lastHW, h.lastRole = n, -1, ""
}

func (h *followerHarness) fetched(t *testing.T, td *datadriven.TestData) {
	o := FollowerFetchOutcome{Seq: h.n.r.FetchState().Seq, HighWatermark: -1, LogStartOffset: -1, DivergingEpoch: -1, DivergingEndOffset: -1}
	td.MaybeScanArgs(t, "seq", &o.Seq)
	td.MaybeScanArgs(t, "hw", &o.HighWatermark)
	td.MaybeScanArgs(t, "log-start", &o.LogStartOffset)
	var name string
	if td.MaybeScanArgs(t, "error", &name); name != "" {
		o.ErrorCode = errCode(t, td, name)
	}
	if d, ok := argInt32s(t, td, "diverging"); ok {
		if len(d) != 2 {
			td.Fatalf(t, "diverging=(EPOCH,END)")
		}
		o.DivergingEpoch, o.DivergingEndOffset = d[0], int64(d[1])
	}
	for _, b := range h.batchesArg(t, td, "batches") {
		o.Records = append(o.Records, b...)
	}
	if td.HasArg("corrupt") {
		o.Records[len(o.Records)-1] ^= 0xff
	}
	var cut int
	td.MaybeScanArgs(t, "cut", &cut)
	o.Records = o.Records[:len(o.Records)-cut]
	h.n.r.FetchedFromLeader(o, h.now)
}

// output carries out the node's effects and prints them, its replies, and
// what changed of its role and high watermark.
func (h *followerHarness) output() string {
	h.n.carryOut()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if h.n.r == nil {
		return ""
	}
	if role := roleLine(h.n.r); role != h.lastRole {
		p("became %s", role)
		h.lastRole = role
	}
	for _, e := range h.n.takeEffects() {
		p("%s", e)
	}
	for _, rep := range h.n.produceReplies {
		p("produce-reply id=%d error=%s base-offset=%d%s", rep.ID, errName(rep.ErrorCode), rep.BaseOffset, hintSuffix(rep.CurrentLeader))
	}
	for _, rep := range h.n.fetchReplies {
		recs := "none"
		if rep.Records != nil {
			recs = fmt.Sprintf("[%d,%d)", rep.Records.FirstOffset, rep.Records.NextOffset)
			rep.Records.Release()
		}
		p("fetch-reply id=%d error=%s hw=%d log-start=%d records=%s%s", rep.ID, errName(rep.ErrorCode), rep.HighWatermark, rep.LogStartOffset, recs, hintSuffix(rep.CurrentLeader))
	}
	for _, rep := range h.n.epochEnds {
		p("epoch-end-reply id=%d error=%s epoch=%d end-offset=%d", rep.ID, errName(rep.ErrorCode), rep.LeaderEpoch, rep.EndOffset)
	}
	h.n.produceReplies, h.n.fetchReplies, h.n.epochEnds, h.n.woken, h.n.alters = nil, nil, nil, nil, nil
	if hw := h.n.r.HighWatermark(); hw != h.lastHW {
		if h.lastHW >= 0 {
			p("high watermark %d -> %d", h.lastHW, hw)
		} else {
			p("high watermark %d", hw)
		}
		h.lastHW = hw
	}
	return b.String()
}

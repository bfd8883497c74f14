package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"

	"gregor/logstore"
)

// testBatch encodes a produce batch of n records with the given timestamps
// and codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func testBatch(t interface {
	Helper()
	Fatal(...any)
}, n int, firstTs, maxTs int64, codec int8) []byte {
	t.Helper()
	return testBatchKeyed(t, n, firstTs, maxTs, codec, func(i int) []byte { return []byte(fmt.Sprint("k", i)) })
}

// testBatchKeyed is testBatch with record i's key from key (nil: no key).
func testBatchKeyed(t interface {
	Helper()
	Fatal(...any)
}, n int, firstTs, maxTs int64, codec int8, key func(i int) []byte) []byte {
	t.Helper()
	var records []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Key: key(i), Value: []byte(fmt.Sprint("v", i))}
		enc := r.AppendTo(nil)
		r.Length = int32(len(enc) - 1)
		enc = r.AppendTo(nil)
		records = append(records, enc...)
	}
	if codec != 0 {
		var buf bytes.Buffer
		c, err := kgo.DefaultCompressor(kgo.CompressionCodec(map[int8]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()}[codec]))
		if err != nil {
			t.Fatal(err)
		}
		records, _ = c.Compress(&buf, records)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec), LastOffsetDelta: int32(n - 1),
		FirstTimestamp: firstTs, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: records,
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	logstore.ChecksumBatch(raw)
	return raw
}

func testReplicaConfig() ReplicaConfig {
	return ReplicaConfig{MaxMessageBytes: 1 << 20, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: 3_600_000, MinInsyncReplicas: 1}
}

// newTestReplica builds a replica of node 1 over a recovered state at time 0;
// with no partition record in st, node 1 leads alone at epoch 0, its log
// having recorded the epoch's start.
func newTestReplica(cfg ReplicaConfig, st ReplicaState) *Replica {
	if len(st.Partition.Replicas) == 0 {
		st.Partition = PartitionImage{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}
		st.LeaderEpochs = []logstore.EpochEntry{{Epoch: 0, StartOffset: st.LogStartOffset}}
	}
	return NewReplica(ReplicaOptions{NodeID: 1, LogCleanerEnabled: true}, TopicSettings{Replica: cfg}, st, Instant{})
}

func TestReplicaProduceValidation(t *testing.T) {
	const now = 1_000_000_000
	good := testBatch(t, 3, now, now, 0)
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 1
	nonZeroBase := append([]byte(nil), good...)
	logstore.SetBatchBaseOffset(nonZeroBase, 7)
	twoBatches := append(append([]byte(nil), good...), good...)
	magic1 := append([]byte(nil), good...)
	magic1[16] = 1
	future := testBatch(t, 1, now+2*3_600_000, now+2*3_600_000, 0)
	// The third record of a compressed batch has no key.
	keyless := testBatchKeyed(t, 4, now, now, 2, func(i int) []byte {
		if i == 2 {
			return nil
		}
		return []byte{byte(i)}
	})
	compacted := func(c *ReplicaConfig) { c.Compacted = true }
	for _, c := range []struct {
		name    string
		records []byte
		acks    int16
		edit    func(*ReplicaConfig)
		want    int16
	}{
		{"uncompressed", good, 1, nil, 0},
		{"gzip", testBatch(t, 5, now, now, 1), 1, nil, 0},
		{"snappy", testBatch(t, 5, now, now, 2), 1, nil, 0},
		{"lz4", testBatch(t, 5, now, now, 3), 1, nil, 0},
		{"zstd", testBatch(t, 5, now, now, 4), 1, nil, 0},
		{"empty", nil, 1, nil, kerr.InvalidRecord.Code},
		{"bad crc", badCRC, 1, nil, kerr.CorruptMessage.Code},
		{"base offset", nonZeroBase, 1, nil, kerr.InvalidRecord.Code},
		{"two batches", twoBatches, 1, nil, kerr.InvalidRecord.Code},
		{"magic 1", magic1, 1, nil, kerr.UnsupportedForMessageFormat.Code},
		{"truncated", good[:30], 1, nil, kerr.CorruptMessage.Code},
		{"too large", good, 1, func(c *ReplicaConfig) { c.MaxMessageBytes = int32(len(good) - 1) }, kerr.MessageTooLarge.Code},
		{"exactly max", good, 1, func(c *ReplicaConfig) { c.MaxMessageBytes = int32(len(good)) }, 0},
		{"future timestamp", future, 1, nil, kerr.InvalidTimestamp.Code},
		{"old timestamp", good, 1, func(c *ReplicaConfig) { c.TimestampBeforeMaxMs = 0 }, 0},
		{"too old", testBatch(t, 1, now-10, now-10, 0), 1, func(c *ReplicaConfig) { c.TimestampBeforeMaxMs = 5 }, kerr.InvalidTimestamp.Code},
		{"bad acks", good, 2, nil, kerr.InvalidRequiredAcks.Code},
		{"min isr", good, -1, func(c *ReplicaConfig) { c.MinInsyncReplicas = 2 }, kerr.NotEnoughReplicas.Code},
		{"min isr acks 1", good, 1, func(c *ReplicaConfig) { c.MinInsyncReplicas = 2 }, 0},
		{"compacted keyed", testBatch(t, 5, now, now, 4), 1, compacted, 0},
		{"compacted keyless", keyless, 1, compacted, kerr.InvalidRecord.Code},
		{"not compacted keyless", keyless, 1, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testReplicaConfig()
			if c.edit != nil {
				c.edit(&cfg)
			}
			r := newTestReplica(cfg, ReplicaState{})
			r.Produce(1, ProduceRequest{Records: append([]byte(nil), c.records...), Acks: c.acks, TimeoutMs: 1000}, Instant{WallMs: now})
			rd := r.Ready()
			if c.want != 0 {
				if len(rd.Appends) != 0 || len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ErrorCode != c.want {
					t.Fatalf("got %+v, want error %d", rd, c.want)
				}
				if rd.ProduceReplies[0].ErrorMessage == "" {
					t.Fatal("error without a message")
				}
				return
			}
			if len(rd.Appends) != 1 || len(rd.ProduceReplies) != 0 {
				t.Fatalf("got %+v, want one append", rd)
			}
		})
	}
}

func TestReplicaCompletionForUnknownRequestPanics(t *testing.T) {
	for name, complete := range map[string]func(r *Replica){
		"append":      func(r *Replica) { r.AppendCompleted(99, AppendOutcome{}, nil) },
		"read":        func(r *Replica) { r.ReadCompleted(99, nil, nil) },
		"lookup":      func(r *Replica) { r.TimestampLookedUp(99, logstore.TimestampOffset{}, false, nil) },
		"log start":   func(r *Replica) { r.LogStartAdvanced(99, 0, nil) },
		"compaction":  func(r *Replica) { r.CompactionFinished(nil) },
		"planned":     func(r *Replica) { r.CompactionPlanned(true) },
		"flushed":     func(r *Replica) { r.Flushed(1) },
		"log start 2": func(r *Replica) { r.RetentionApplied(1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			complete(newTestReplica(testReplicaConfig(), ReplicaState{}))
		})
	}
}

// TestReplicaProperties drives random produce, append, flush, fetch,
// watch, ListOffsets and tick sequences against a naive model: the high
// watermark is the minimum log end offset over the ISR (the leader's own, or
// its flushed offset with a durable high watermark), never decreases,
// replies never precede their append, and every request is answered at most
// once and, once time passes every deadline, exactly once.
func TestReplicaProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const wall0 = 1_000_000_000
		cfg := testReplicaConfig()
		cfg.DurableHighWatermark = rapid.Bool().Draw(rt, "durable")
		cfg.Compacted = rapid.Bool().Draw(rt, "compacted")
		r := newTestReplica(cfg, ReplicaState{})
		answered := map[RequestID]int{}
		appended := map[RequestID]bool{}
		var pendingAppends []AppendBatches
		wantsAnswer := map[RequestID]bool{}
		var next RequestID
		var leo, flushed, lastHW int64
		var mono int64
		now := func() Instant { return Instant{WallMs: wall0 + mono, MonoMs: mono} }
		complete := func(ap AppendBatches, fail bool) {
			if fail {
				r.AppendCompleted(ap.ID, AppendOutcome{}, errors.New("disk full"))
				return
			}
			b, _ := logstore.ParseBatch(ap.Batches[0])
			base := leo
			leo += int64(b.LastOffsetDelta) + 1
			appended[ap.ID] = true
			r.AppendCompleted(ap.ID, AppendOutcome{BaseOffset: base, LogEndOffset: leo, FlushedOffset: flushed}, nil)
		}
		// drain carries out a Ready as the shell does: reads, lookups and
		// housekeeping complete at once, appends wait for the test.
		var drain func()
		drain = func() {
			rd := r.Ready()
			if rd.Empty() {
				return
			}
			pendingAppends = append(pendingAppends, rd.Appends...)
			for _, rr := range rd.Reads {
				if rr.MaxOffset > r.HighWatermark() || rr.Offset >= rr.MaxOffset {
					rt.Fatalf("read %+v with high watermark %d", rr, r.HighWatermark())
				}
				r.ReadCompleted(rr.ID, nil, nil)
			}
			for _, l := range rd.Lookups {
				r.TimestampLookedUp(l.ID, logstore.TimestampOffset{Offset: leo, TimestampMs: wall0}, true, nil)
			}
			if rd.DeleteRetainedSegments != nil {
				r.RetentionApplied(r.LogStartOffset())
			}
			if rd.PlanCompaction != nil {
				if !cfg.Compacted {
					rt.Fatal("compaction planned for a topic without cleanup.policy=compact")
				}
				r.CompactionPlanned(false)
			}
			for _, rep := range rd.ProduceReplies {
				answered[rep.ID]++
				if rep.ErrorCode == 0 && !appended[rep.ID] {
					rt.Fatalf("request %d acknowledged before its append", rep.ID)
				}
			}
			for _, rep := range rd.FetchReplies {
				answered[rep.ID]++
			}
			for _, rep := range rd.ListOffsetsReplies {
				answered[rep.ID]++
				if rep.Offset >= 0 && rep.Offset > r.HighWatermark() {
					rt.Fatalf("ListOffsets answered %d past the high watermark %d", rep.Offset, r.HighWatermark())
				}
			}
			for _, w := range rd.Woken {
				answered[w.ID]++
			}
			drain()
		}
		steps := rapid.IntRange(1, 80).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 6).Draw(rt, "op") {
			case 0:
				next++
				a := rapid.SampledFrom([]int16{0, 1, -1}).Draw(rt, "acks")
				wantsAnswer[next] = a != 0
				r.Produce(next, ProduceRequest{Records: testBatch(rt, rapid.IntRange(1, 4).Draw(rt, "n"), now().WallMs, now().WallMs, 0), Acks: a, TimeoutMs: 100}, now())
			case 1:
				if len(pendingAppends) > 0 {
					ap := pendingAppends[0]
					pendingAppends = pendingAppends[1:]
					complete(ap, rapid.IntRange(0, 9).Draw(rt, "fail") == 0)
				}
			case 2:
				flushed = max(flushed, rapid.Int64Range(0, leo).Draw(rt, "flushed"))
				r.Flushed(flushed)
			case 3:
				next++
				wantsAnswer[next] = true
				r.Watch(next, Watch{Partition: FetchPartition{FetchOffset: rapid.Int64Range(0, leo+3).Draw(rt, "watch"), CurrentLeaderEpoch: -1},
					DeadlineMs: mono + rapid.Int64Range(0, 200).Draw(rt, "wait"), ReadOnWake: rapid.Bool().Draw(rt, "read on wake")})
			case 4:
				mono += rapid.Int64Range(0, 1500).Draw(rt, "advance")
				r.Tick(now())
			case 5:
				next++
				wantsAnswer[next] = true
				r.Fetch(next, FetchPartition{FetchOffset: rapid.Int64Range(0, leo+1).Draw(rt, "fetch"), PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}, ReadUncommitted)
			case 6:
				next++
				wantsAnswer[next] = true
				r.ListOffsets(next, ListOffsetsRequest{TimestampMs: rapid.Int64Range(-3, 5).Draw(rt, "timestamp"), CurrentLeaderEpoch: -1})
			}
			drain()
			hw := r.HighWatermark()
			model := r.LogEndOffset()
			if cfg.DurableHighWatermark {
				model = min(model, flushed)
			}
			if hw != model || hw < lastHW || r.LogEndOffset() != leo {
				rt.Fatalf("high watermark %d (was %d, model %d), log end %d (model %d)", hw, lastHW, model, r.LogEndOffset(), leo)
			}
			lastHW = hw
		}
		for id, n := range answered {
			if n > 1 {
				rt.Fatalf("request %d answered %d times", id, n)
			}
		}
		// Finish every append and flush, then let every deadline pass.
		for len(pendingAppends) > 0 {
			ap := pendingAppends[0]
			pendingAppends = pendingAppends[1:]
			complete(ap, false)
			drain()
		}
		mono += 1000
		r.Tick(now())
		drain()
		if p := r.PendingRequests(); len(p) != 0 {
			rt.Fatalf("requests never answered: %v", p)
		}
		for id := RequestID(1); id <= next; id++ {
			if wantsAnswer[id] && answered[id] != 1 {
				rt.Fatalf("request %d answered %d times", id, answered[id])
			} else if !wantsAnswer[id] && answered[id] != 0 {
				rt.Fatalf("acks=0 request %d answered", id)
			}
		}
	})
}

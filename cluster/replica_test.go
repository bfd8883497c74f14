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
			r := NewReplica(cfg, ReplicaState{}, 1)
			r.Produce(1, append([]byte(nil), c.records...), c.acks, 1000, now)
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

func TestReplicaAcksAndHighWatermark(t *testing.T) {
	const now = 1_000_000_000
	r := NewReplica(testReplicaConfig(), ReplicaState{LogEndOffset: 10, FlushedOffset: 10}, 1)
	if r.HighWatermark() != 10 {
		t.Fatalf("recovered high watermark %d", r.HighWatermark())
	}
	r.Produce(1, testBatch(t, 2, now, now, 0), 0, 1000, now)
	r.Produce(2, testBatch(t, 2, now, now, 0), 1, 1000, now)
	r.Produce(3, testBatch(t, 2, now, now, 0), -1, 1000, now)
	rd := r.Ready()
	if len(rd.Appends) != 3 || len(rd.ProduceReplies) != 0 {
		t.Fatalf("ready %+v", rd)
	}
	r.AppendCompleted(1, 10, 12, nil)
	r.AppendCompleted(2, 12, 14, nil)
	r.AppendCompleted(3, 14, 16, nil)
	rd = r.Ready()
	if len(rd.ProduceReplies) != 2 || rd.ProduceReplies[0].ID != 2 || rd.ProduceReplies[0].BaseOffset != 12 || rd.ProduceReplies[1].ID != 3 || rd.ProduceReplies[1].BaseOffset != 14 {
		t.Fatalf("replies %+v: acks=0 gets none, acks=1 and all get their base offsets", rd.ProduceReplies)
	}
	if r.HighWatermark() != 16 {
		t.Fatalf("high watermark %d, want 16", r.HighWatermark())
	}
}

func TestReplicaAppendCompletionForUnknownRequestPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewReplica(testReplicaConfig(), ReplicaState{}, 1).AppendCompleted(99, 0, 0, nil)
}

func TestReplicaDurableHighWatermark(t *testing.T) {
	const now = 1_000_000_000
	cfg := testReplicaConfig()
	cfg.DurableHighWatermark = true
	r := NewReplica(cfg, ReplicaState{}, 1)
	r.Watch(7, 0, now+500)
	r.Produce(1, testBatch(t, 3, now, now, 0), -1, 1000, now)
	r.Produce(2, testBatch(t, 1, now, now, 0), 1, 1000, now)
	r.Ready()
	r.AppendCompleted(1, 0, 3, nil)
	r.AppendCompleted(2, 3, 4, nil)
	rd := r.Ready()
	if len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ID != 2 || len(rd.Woken) != 0 || r.HighWatermark() != 0 {
		t.Fatalf("before fsync: %+v hw %d; only acks=1 may be answered", rd, r.HighWatermark())
	}
	if fb := r.Fetch(0, -1); fb.Readable {
		t.Fatal("unflushed records are readable")
	}
	r.Flushed(3)
	rd = r.Ready()
	if len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ID != 1 || len(rd.Woken) != 1 || rd.Woken[0].ID != 7 || r.HighWatermark() != 3 {
		t.Fatalf("after fsync: %+v hw %d", rd, r.HighWatermark())
	}
}

func TestReplicaTimeoutsAndWatches(t *testing.T) {
	const now = 1_000_000_000
	cfg := testReplicaConfig()
	cfg.DurableHighWatermark = true
	r := NewReplica(cfg, ReplicaState{}, 1)
	r.Produce(1, testBatch(t, 1, now, now, 0), -1, 100, now)
	r.Ready()
	r.AppendCompleted(1, 0, 1, nil)
	r.Watch(2, 0, now+50)
	r.Watch(3, 5, now+500)
	if got := r.NextDeadlineMs(); got != now+50 {
		t.Fatalf("next deadline %d", got)
	}
	r.Tick(now + 60)
	rd := r.Ready()
	if len(rd.Woken) != 1 || rd.Woken[0].ID != 2 || !rd.Woken[0].Expired || len(rd.ProduceReplies) != 0 {
		t.Fatalf("tick at 60: %+v", rd)
	}
	r.Tick(now + 100)
	rd = r.Ready()
	if len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("tick at 100: %+v", rd)
	}
	if got := r.PendingRequests(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("pending %v", got)
	}
}

func TestReplicaFetchBounds(t *testing.T) {
	r := NewReplica(testReplicaConfig(), ReplicaState{LogStartOffset: 5, LogEndOffset: 10, FlushedOffset: 10, LeaderEpoch: 3}, 1)
	for _, c := range []struct {
		offset   int64
		epoch    int32
		code     int16
		readable bool
	}{
		{4, -1, kerr.OffsetOutOfRange.Code, false},
		{5, -1, 0, true},
		{9, 3, 0, true},
		{10, -1, 0, false},
		{11, -1, kerr.OffsetOutOfRange.Code, false},
		{5, 2, kerr.FencedLeaderEpoch.Code, false},
		{5, 4, kerr.UnknownLeaderEpoch.Code, false},
	} {
		fb := r.Fetch(c.offset, c.epoch)
		if fb.ErrorCode != c.code || fb.Readable != c.readable || fb.HighWatermark != 10 || fb.LogStartOffset != 5 {
			t.Errorf("fetch %d epoch %d: %+v", c.offset, c.epoch, fb)
		}
	}
	if off, lookup := r.ListOffset(-2); off != 5 || lookup {
		t.Errorf("earliest %d %v", off, lookup)
	}
	if off, lookup := r.ListOffset(-1); off != 10 || lookup {
		t.Errorf("latest %d %v", off, lookup)
	}
	if _, lookup := r.ListOffset(12345); !lookup {
		t.Error("timestamp needs a lookup")
	}
	if off, code := r.DeleteRecordsOffset(-1); off != 10 || code != 0 {
		t.Errorf("delete to hw: %d %d", off, code)
	}
	if _, code := r.DeleteRecordsOffset(11); code != kerr.OffsetOutOfRange.Code {
		t.Errorf("delete past hw: %d", code)
	}
	if off, _ := r.DeleteRecordsOffset(2); off != 5 {
		t.Errorf("delete below log start: %d", off)
	}
}

// TestReplicaProperties drives random produce, append, flush, watch and tick
// sequences: the high watermark never decreases or passes the log end
// offset, replies never precede their append, and every request is answered
// at most once and, once time passes every deadline, exactly once.
func TestReplicaProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const now = 1_000_000_000
		cfg := testReplicaConfig()
		cfg.DurableHighWatermark = rapid.Bool().Draw(rt, "durable")
		r := NewReplica(cfg, ReplicaState{}, 1)
		answered := map[RequestID]int{}
		appended := map[RequestID]bool{}
		var pendingAppends []AppendBatches
		acks := map[RequestID]int16{}
		var next RequestID
		var leo, lastHW int64
		clock := int64(now)
		drain := func() {
			rd := r.Ready()
			pendingAppends = append(pendingAppends, rd.Appends...)
			for _, rep := range rd.ProduceReplies {
				answered[rep.ID]++
				if rep.ErrorCode == 0 && !appended[rep.ID] {
					rt.Fatalf("request %d acknowledged before its append", rep.ID)
				}
			}
			for _, w := range rd.Woken {
				answered[w.ID]++
			}
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0:
				next++
				a := rapid.SampledFrom([]int16{0, 1, -1}).Draw(rt, "acks")
				acks[next] = a
				r.Produce(next, testBatch(rt, rapid.IntRange(1, 4).Draw(rt, "n"), clock, clock, 0), a, 100, clock)
			case 1:
				if len(pendingAppends) > 0 {
					ap := pendingAppends[0]
					pendingAppends = pendingAppends[1:]
					b, _ := logstore.ParseBatch(ap.Batches[0])
					if rapid.IntRange(0, 9).Draw(rt, "fail") == 0 {
						r.AppendCompleted(ap.ID, -1, leo, errors.New("disk full"))
						break
					}
					base := leo
					leo += int64(b.LastOffsetDelta) + 1
					appended[ap.ID] = true
					r.AppendCompleted(ap.ID, base, leo, nil)
				}
			case 2:
				r.Flushed(rapid.Int64Range(0, leo).Draw(rt, "flushed"))
			case 3:
				next++
				r.Watch(next, rapid.Int64Range(0, leo+3).Draw(rt, "watch"), clock+rapid.Int64Range(0, 200).Draw(rt, "wait"))
				acks[next] = 1
			case 4:
				clock += rapid.Int64Range(0, 150).Draw(rt, "advance")
				r.Tick(clock)
			}
			drain()
			hw := r.HighWatermark()
			if hw < lastHW || hw > r.LogEndOffset() {
				rt.Fatalf("high watermark %d (was %d, log end %d)", hw, lastHW, r.LogEndOffset())
			}
			lastHW = hw
		}
		for id, n := range answered {
			if n > 1 {
				rt.Fatalf("request %d answered %d times", id, n)
			}
		}
		// Finish every append, then let every deadline pass.
		for len(pendingAppends) > 0 {
			ap := pendingAppends[0]
			pendingAppends = pendingAppends[1:]
			b, _ := logstore.ParseBatch(ap.Batches[0])
			base := leo
			leo += int64(b.LastOffsetDelta) + 1
			appended[ap.ID] = true
			r.AppendCompleted(ap.ID, base, leo, nil)
			drain()
		}
		r.Tick(clock + 1000)
		drain()
		if p := r.PendingRequests(); len(p) != 0 {
			rt.Fatalf("requests never answered: %v", p)
		}
		for id := RequestID(1); id <= next; id++ {
			if acks[id] != 0 && answered[id] != 1 {
				rt.Fatalf("request %d answered %d times", id, answered[id])
			}
		}
	})
}

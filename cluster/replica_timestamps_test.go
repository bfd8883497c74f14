package cluster

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// TestReplicaProduceTimestamps checks a produced batch's timestamps as
// Kafka's LogValidator does: each record's timestamp against
// message.timestamp.before.max.ms and message.timestamp.after.max.ms of
// the leader's wall clock, a record without one (-1) passing, whatever the
// producer wrote in the batch header; under CreateTime the appended batch
// holds its records' largest timestamp (the time index, retention and
// ListOffsets read it), under LogAppendTime the leader's time; only a
// broker sets the LogAppendTime attribute.
func TestReplicaProduceTimestamps(t *testing.T) {
	const now = 1_000_000_000
	const hour = 3_600_000
	logAppendTime := func(b []byte) []byte {
		logstore.SetBatchLogAppendTime(b, now-7)
		return b
	}
	for _, c := range []struct {
		name     string
		records  []byte
		edit     func(*ReplicaConfig)
		want     int16
		wantMax  int64
		wantType TimestampType
	}{
		{"within the bounds", testBatch(t, 2, now-hour, now-hour, 0), nil, 0, now - hour, CreateTime},
		{"no timestamp, before.max.ms set", testBatch(t, 2, -1, -1, 0), func(c *ReplicaConfig) { c.TimestampBeforeMaxMs = 5 }, 0, -1, CreateTime},
		{"header max far ahead of the records", testBatch(t, 2, now, now+2*hour, 0), nil, 0, now, CreateTime},
		{"header max behind the records", testBatch(t, 2, now, now-2*hour, 0), nil, 0, now, CreateTime},
		{"header max behind the records, compressed", testBatch(t, 3, now+5, 0, 4), nil, 0, now + 5, CreateTime},
		{"a record past after.max.ms", testBatch(t, 2, now+hour+1, now, 0), nil, kerr.InvalidTimestamp.Code, 0, 0},
		{"a record before before.max.ms", testBatch(t, 2, now-11, now, 0), func(c *ReplicaConfig) { c.TimestampBeforeMaxMs = 10 }, kerr.InvalidTimestamp.Code, 0, 0},
		{"far past, before.max.ms unbounded", testBatch(t, 1, 1, 1, 0), nil, 0, 1, CreateTime},
		{"LogAppendTime from a producer, CreateTime topic", logAppendTime(testBatch(t, 2, now, now, 0)), nil, 0, now, CreateTime},
		{"LogAppendTime topic, far future", testBatch(t, 2, math.MaxInt64/2, math.MaxInt64/2, 0), func(c *ReplicaConfig) { c.TimestampType = LogAppendTime }, 0, now, LogAppendTime},
		{"LogAppendTime from a producer, LogAppendTime topic", logAppendTime(testBatch(t, 2, now, now, 0)), func(c *ReplicaConfig) { c.TimestampType = LogAppendTime }, kerr.InvalidTimestamp.Code, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testReplicaConfig()
			if c.edit != nil {
				c.edit(&cfg)
			}
			r := newTestReplica(cfg, ReplicaState{})
			r.Produce(1, ProduceRequest{Records: append([]byte(nil), c.records...), Acks: 1, TimeoutMs: 1000}, Instant{WallMs: now})
			rd := r.Ready()
			if c.want != 0 {
				if len(rd.Appends) != 0 || len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ErrorCode != c.want || len(rd.ProduceReplies[0].RecordErrors) == 0 {
					t.Fatalf("got %+v, want error %d with the records refused", rd, c.want)
				}
				return
			}
			if len(rd.Appends) != 1 || len(rd.Appends[0].Batches) != 1 {
				t.Fatalf("got %+v, want one append", rd)
			}
			b, err := logstore.ParseBatch(rd.Appends[0].Batches[0])
			if err != nil {
				t.Fatalf("the appended batch does not parse: %v", err)
			}
			typ := CreateTime
			if b.Attributes&0x08 != 0 {
				typ = LogAppendTime
			}
			if b.MaxTimestamp != c.wantMax || typ != c.wantType {
				t.Fatalf("appended with max timestamp %d (type %d), want %d (type %d)", b.MaxTimestamp, typ, c.wantMax, c.wantType)
			}
		})
	}
}

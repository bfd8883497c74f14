package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestListOffsetsByTimestamp(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("ts"), kgo.AllowAutoTopicCreation())
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 5; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	for _, c := range []struct {
		at   time.Time
		want int64
	}{{base.Add(-time.Minute), 0}, {base, 0}, {base.Add(90 * time.Second), 2}, {base.Add(4 * time.Minute), 4}, {base.Add(time.Hour), -1}} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, c.at.UnixMilli(), "ts")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup("ts", 0)
		// Kafka answers -1 for "no record at or after"; kadm then reports
		// the end offset.
		if c.want >= 0 && o.Offset != c.want || c.want < 0 && o.Offset != 5 && o.Offset != -1 {
			t.Errorf("offset after %v: %d, want %d", c.at.Sub(base), o.Offset, c.want)
		}
	}
}

func TestProduceLimitsAndAcks(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("2000")}, "small"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n, kgo.DefaultProduceTopic("small"), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1500)}).FirstErr(); err != nil {
		t.Fatalf("batch under max.message.bytes: %v", err)
	}
	err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 2500)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("batch over max.message.bytes: %v", err)
	}
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		p := newClient(t, n, kgo.DefaultProduceTopic("small"), kgo.RequiredAcks(acks))
		for i := 0; i < 20; i++ {
			p.Produce(ctx, kgo.StringRecord("a"), func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("acks %v: %v", acks, err)
				}
			})
		}
		if err := p.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 1 + 20 (acks=0 arrive before the next producer's acks=1 records,
	// since the end offset is read after both flushed) ... wait for all.
	waitFor(t, 10*time.Second, "end offset 61", func() bool {
		offs, err := adm.ListEndOffsets(ctx, "small")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("small", 0)
		return o.Offset == 61
	})
}

func TestLongPollReturnsWhenDataArrives(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "poll"); err != nil {
		t.Fatal(err)
	}
	// Both partitions answer ListOffsets before the consumer starts: one
	// whose replica had not started yet was left out of the consumer's
	// first Fetch (the client retries its offset later), and a produce to
	// it waited out that Fetch's max wait.
	waitUntil(t, ctx, "both partitions to list their offsets", func() bool {
		offs, err := adm.ListEndOffsets(ctx, "poll")
		if err != nil || offs.Error() != nil {
			return false
		}
		_, ok0 := offs.Lookup("poll", 0)
		_, ok1 := offs.Lookup("poll", 1)
		return ok0 && ok1
	})
	written := make(chan struct{}, 1)
	consumer := newClient(t, n, kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(5*time.Second), kgo.WithHooks(fetchWritten(written)))
	producer := newClient(t, n, kgo.DefaultProduceTopic("poll"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for {
			fs := consumer.PollFetches(ctx)
			if fs.NumRecords() > 0 || ctx.Err() != nil {
				done <- time.Since(start)
				return
			}
		}
	}()
	// Produce once a fetch is on its way to the broker, to wait there: a
	// record to each partition, since the consumer's first Fetch may hold
	// only one of them (it sends one as soon as one partition's offset is
	// loaded, and adds the other to its next Fetch), and that Fetch rightly
	// waits out its max wait when only a partition it did not ask for gets
	// a record.
	select {
	case <-written:
	case <-ctx.Done():
		t.Fatal("the consumer never sent a fetch")
	}
	sent := time.Now()
	if err := producer.ProduceSync(ctx, &kgo.Record{Value: []byte("wake"), Partition: 0}, &kgo.Record{Value: []byte("wake"), Partition: 1}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waited := <-done
	if since := time.Since(sent); since > 2*time.Second || waited >= 5*time.Second {
		t.Fatalf("the fetch returned %v after the produce (%v in all); it should return as data arrives", since, waited)
	}
}

// fetchWritten is a kgo hook that signals each Fetch request written.
type fetchWritten chan struct{}

func (c fetchWritten) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Fetch) && err == nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// listOffsetsAt sends one ListOffsets request at the given version for
// partition 0 of topic.
func listOffsetsAt(t *testing.T, ctx context.Context, n *Node, version int16, topic string, timestampMs int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.ListOffsets), version)
	cl := newClient(t, n, kgo.MaxVersions(versions))
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = version
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = 0, timestampMs, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets v%d: %v", version, err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestListOffsetsSpecialTimestamps(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("special"), kgo.AllowAutoTopicCreation())
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i, ts := range []time.Duration{0, 3 * time.Minute, time.Minute} { // max timestamp at offset 1
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(ts)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		version     int16
		timestampMs int64
		code        int16
		offset      int64
	}{
		{11, -1, 0, 3}, {11, -2, 0, 0}, {11, -3, 0, 1}, {11, -4, 0, 0},
		{11, -5, 0, -1}, {11, -6, 0, -1}, {11, -7, kerr.InvalidRequest.Code, -1},
		{6, -3, kerr.UnsupportedVersion.Code, -1}, {7, -4, kerr.UnsupportedVersion.Code, -1},
		{8, -5, kerr.UnsupportedVersion.Code, -1}, {10, -6, kerr.UnsupportedVersion.Code, -1},
		{1, -2, 0, 0}, {9, -5, 0, -1},
	} {
		p := listOffsetsAt(t, ctx, n, c.version, "special", c.timestampMs)
		if p.ErrorCode != c.code || p.Offset != c.offset {
			t.Errorf("v%d timestamp %d: error %d offset %d, want error %d offset %d", c.version, c.timestampMs, p.ErrorCode, p.Offset, c.code, c.offset)
		}
		if c.timestampMs == -3 && c.code == 0 && p.Timestamp != base.Add(3*time.Minute).UnixMilli() {
			t.Errorf("max timestamp %d, want %d", p.Timestamp, base.Add(3*time.Minute).UnixMilli())
		}
	}
}

// A partition named twice in one ListOffsets request gets INVALID_REQUEST
// in each entry, as from Kafka; the other partitions are answered.
func TestListOffsetsDuplicatePartitions(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("dup"), kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "dup"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	for _, ps := range [][]int32{{0, 1}, {0}} { // partition 0 in two entries of the topic
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "dup"
		for _, p := range ps {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var got []string // kgo may merge the two entries of the topic into one
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			got = append(got, fmt.Sprintf("%d:%d/%d", p.Partition, p.ErrorCode, p.Offset))
		}
	}
	if want := "0:42/-1 1:0/1 0:42/-1"; strings.Join(got, " ") != want {
		t.Fatalf("answers %v, want %s", got, want)
	}
}

// A partition named more than once in one DeleteRecords request is answered
// once and deleted up to its last entry's offset, and a topic named in two
// entries is answered in one, as by Kafka's broker (which collects the
// request into a map from partition to offset).
func TestDeleteRecordsDuplicatePartitions(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("deldup"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "deldup"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 5; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	// Partition 0 up to 3, then (last entry) up to 1; partition 1 in a
	// second entry of the topic.
	for _, ps := range [][][2]int64{{{0, 3}}, {{1, 2}, {0, 1}}} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "deldup"
		for _, p := range ps {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = int32(p[0]), p[1]
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	brokers := cl.DiscoveredBrokers() // straight to the broker: kgo would merge the topic's entries
	if len(brokers) != 1 {
		t.Fatalf("%d brokers discovered, want 1", len(brokers))
	}
	kresp, err := brokers[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rt := range kresp.(*kmsg.DeleteRecordsResponse).Topics {
		for _, p := range rt.Partitions {
			got = append(got, fmt.Sprintf("%s/%d:%d/%d", rt.Topic, p.Partition, p.ErrorCode, p.LowWatermark))
		}
	}
	if want := "deldup/0:0/1 deldup/1:0/2"; strings.Join(got, " ") != want {
		t.Fatalf("answers %v, want %s", got, want)
	}
	offs, err := kadm.NewClient(cl).ListStartOffsets(ctx, "deldup")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range []int64{1, 2} {
		if o, _ := offs.Lookup("deldup", int32(p)); o.Offset != want {
			t.Errorf("partition %d starts at %d, want %d", p, o.Offset, want)
		}
	}
}

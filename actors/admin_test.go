package actors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func describeTopicConfig(t *testing.T, adm *kadm.Client, topic, key string) (string, kmsg.ConfigSource) {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), c.Source
		}
	}
	t.Fatalf("%s has no config %s", topic, key)
	return "", 0
}

func TestAlterAndDescribeConfigs(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.StaticBrokerConfigs["log.retention.ms"] = "1000000" })
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")}, "cfg"); err != nil {
		t.Fatal(err)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1048576" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.bytes = %s from %v", v, src)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "retention.ms"); v != "1000000" || src != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms = %s from %v, want the broker's static value", v, src)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "cleanup.policy"); v != "delete" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %s from %v", v, src)
	}
	// Incremental: set one, keep the other.
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("5000")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "retention.ms"); v != "5000" {
		t.Fatalf("retention.ms after alter = %s", v)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1048576" {
		t.Fatalf("segment.bytes lost by an incremental alter: %s", v)
	}
	// APPEND to a list config.
	resps, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("append: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "cleanup.policy"); v != "delete,compact" {
		t.Fatalf("cleanup.policy after append = %s", v)
	}
	// Non-incremental AlterConfigs replaces everything.
	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("2000")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("state alter: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1073741824" {
		t.Fatalf("segment.bytes after a replacing alter = %s, want the default", v)
	}
	// Bad values and unknown names are INVALID_CONFIG.
	for _, ac := range []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("-7")}, {Name: "nope", Value: kadm.StringPtr("1")}} {
		resps, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, "cfg")
		if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
			t.Fatalf("alter %s: %v %+v", ac.Name, err, resps)
		}
	}
	// Broker-wide dynamic default.
	bresps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.bytes", Value: kadm.StringPtr("123456")}})
	if err != nil || bresps[0].Err != nil {
		t.Fatalf("broker alter: %v %+v", err, bresps)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "retention.bytes"); v != "123456" || src != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("retention.bytes = %s from %v", v, src)
	}
	bresps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("3")}})
	if err != nil || !errors.Is(bresps[0].Err, kerr.InvalidRequest) {
		t.Fatalf("read-only broker config altered: %v %+v", err, bresps)
	}
}

func TestDeleteTopicRemovesData(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("gone"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	resp, err := adm.DeleteTopics(ctx, "gone")
	if err != nil || resp["gone"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "gone-0")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("partition directory still there")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err = adm.DeleteTopics(ctx, "gone")
	if err != nil || !errors.Is(resp["gone"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v %+v", err, resp)
	}
	// The name is free again, with a new id and no old data.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "gone"); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.ListEndOffsets(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("gone", 0); o.Offset != 0 {
		t.Fatalf("recreated topic ends at %d", o.Offset)
	}
}

func TestCreatePartitionsAndDeleteRecords(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	cr, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || cr["grow"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cr)
	}
	cr, err = adm.CreatePartitions(ctx, 0, "grow")
	if err != nil || !errors.Is(cr["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("no-op create partitions: %v %+v", err, cr)
	}
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "grow", Partition: 2, Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 4})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("grow", 2); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", r)
	}
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 11})
	dr, _ = adm.DeleteRecords(ctx, os)
	if r, _ := dr.Lookup("grow", 2); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("grow", 2); o.Offset != 4 {
		t.Fatalf("start offset %d", o.Offset)
	}
	consumer := newClient(t, n, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"grow": {2: kgo.NewOffset().At(1)}}))
	fs := consumer.PollFetches(ctx)
	// Reading below the log start offset resets (auto.offset.reset defaults to earliest in kgo).
	var first int64 = -1
	fs.EachRecord(func(r *kgo.Record) {
		if first < 0 {
			first = r.Offset
		}
	})
	if first != 4 {
		t.Fatalf("first record after DeleteRecords at offset %d", first)
	}
}

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
	deadline := time.Now().Add(10 * time.Second)
	for {
		offs, err := adm.ListEndOffsets(ctx, "small")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := offs.Lookup("small", 0); o.Offset == 61 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("end offset %d, want 61", o.Offset)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLongPollReturnsWhenDataArrives(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "poll"); err != nil {
		t.Fatal(err)
	}
	consumer := newClient(t, n, kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(5*time.Second))
	producer := newClient(t, n, kgo.DefaultProduceTopic("poll"))
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
	time.Sleep(300 * time.Millisecond) // let the fetch park in the partitions
	sent := time.Now()
	if err := producer.ProduceSync(ctx, kgo.StringRecord("wake")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waited := <-done
	if since := time.Since(sent); since > 2*time.Second || waited >= 5*time.Second {
		t.Fatalf("the fetch returned %v after the produce (%v in all); it should return as data arrives", since, waited)
	}
}

func TestUnopenablePartitionGoesOffline(t *testing.T) {
	dir := t.TempDir()
	// A file where the partition directory should be: the log cannot open.
	if err := os.WriteFile(filepath.Join(dir, "broken-0"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "broken"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err := adm.Metadata(ctx, "broken")
		if err != nil {
			t.Fatal(err)
		}
		p := md.Topics["broken"].Partitions
		if p[0].Leader == -1 && p[1].Leader == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition 0 never went offline: %+v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "broken", Partition: 1, Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("the healthy partition refuses records: %v", err)
	}
}

func TestPartitionActorRestartsAfterPanic(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("phoenix"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pid := n.routes.load().partition("phoenix", 0)
	// A message no partition actor ever gets is a broken invariant: it
	// panics, and supervision restarts it.
	n.system.Root.Send(pid, &unexpectedPartitionMessage{})
	// The restarted actor rebuilt its core from the log: offsets continue.
	res := cl.ProduceSync(ctx, kgo.StringRecord("after"))
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r, _ := res.First(); r.Offset != 5 {
		t.Fatalf("first record after the restart got offset %d, want 5", r.Offset)
	}
	if n.routes.load().partition("phoenix", 0) == nil {
		t.Fatal("partition went offline after one panic")
	}
	consumer := newClient(t, n, kgo.ConsumeTopics("phoenix"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var vals []string
	for len(vals) < 6 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	if fmt.Sprint(vals) != "[0 1 2 3 4 after]" {
		t.Fatalf("records %v", vals)
	}
}

func TestRequestToStoppedPartitionIsAnswered(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "stopped"); err != nil {
		t.Fatal(err)
	}
	pid := n.routes.load().partition("stopped", 0)
	if err := n.system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	got := make(chan int16, 1)
	n.system.Root.Send(pid, &producePartition{records: []byte("x"), acks: 1, reply: func(res producePartitionResult) { got <- res.errorCode }})
	select {
	case code := <-got:
		if code != kerr.NotLeaderForPartition.Code {
			t.Fatalf("error code %d", code)
		}
	case <-ctx.Done():
		t.Fatal("a produce to a stopped partition actor was never answered")
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

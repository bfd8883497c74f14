package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestAcksLevels(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := 0
	for _, acks := range []kgo.Acks{kgo.NoAck(), kgo.LeaderAck(), kgo.AllISRAcks()} {
		cl := b.client(t, kgo.RequiredAcks(acks), kgo.DefaultProduceTopic("acks"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for i := 0; i < 50; i++ {
			res := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(want))})
			if err := res.FirstErr(); err != nil {
				t.Fatalf("acks %v record %d: %v", acks, i, err)
			}
			want++
		}
		if acks == kgo.NoAck() {
			// acks=0 gets no answer: the records are appended once the
			// broker reads them, which the next client (another
			// connection) could overtake. Wait until they are all in.
			adm := b.admin(t)
			waitFor(t, 10*time.Second, "the acks=0 records appended", func() bool {
				ends, err := adm.ListEndOffsets(ctx, "acks")
				o, ok := ends.Lookup("acks", 0)
				return err == nil && ok && o.Offset == int64(want)
			})
		}
	}
	recs := b.consumeAll(t, "acks", want)
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(i) || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d", i, r.Value, r.Offset)
		}
	}
}

func TestMaxMessageBytes(t *testing.T) {
	b := startBroker(t, "message.max.bytes=200000")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.client(t, kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	// A batch of one record just under the limit (the batch adds ~80 bytes).
	fits := bytes.Repeat([]byte("f"), 199_000)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: fits}).FirstErr(); err != nil {
		t.Fatalf("record within message.max.bytes: %v", err)
	}
	over := bytes.Repeat([]byte("o"), 201_000)
	err := cl.ProduceSync(ctx, &kgo.Record{Value: over}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("record over message.max.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	// The topic-level max.message.bytes overrides the broker's.
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"max.message.bytes": kadm.StringPtr("1000")}, "small"); err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: bytes.Repeat([]byte("s"), 2000)}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("record over the topic's max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	recs := b.consumeAll(t, "big", 1)
	if len(recs) != 1 || !bytes.Equal(recs[0].Value, fits) {
		t.Fatalf("read %d records back", len(recs))
	}
}

func TestLongPollReturnsWhenDataArrives(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "poll"); err != nil {
		t.Fatal(err)
	}
	cons := b.client(t, kgo.ConsumeTopics("poll"), kgo.FetchMaxWait(20*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if fs := cons.PollFetches(ctx); len(fs.Records()) > 0 {
				got <- time.Now()
				return
			}
		}
	}()
	// The consumer's fetch is parked in the broker, waiting for data.
	waitFor(t, 10*time.Second, "a parked fetch", func() bool { return b.metric(t, "gregor_fetches_waiting") >= 1 })
	prod := b.client(t, kgo.DefaultProduceTopic("poll"))
	sent := time.Now()
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-got:
		if d := at.Sub(sent); d > 2*time.Second {
			t.Fatalf("parked fetch answered %v after the produce, want well before max_wait 20s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parked fetch not answered 10s after the produce")
	}
}

func TestListOffsetsByTimestamp(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := b.client(t, kgo.DefaultProduceTopic("times"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	check := func(name string, res kadm.ListedOffsets, err error, want int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lo, ok := res.Lookup("times", 0)
		if !ok || lo.Err != nil || lo.Offset != want {
			t.Fatalf("%s: %+v, want offset %d", name, lo, want)
		}
	}
	res, err := adm.ListOffsetsAfterMilli(ctx, base.Add(4500*time.Millisecond).UnixMilli(), "times")
	check("after 4.5s", res, err, 5)
	res, err = adm.ListOffsetsAfterMilli(ctx, base.UnixMilli(), "times")
	check("at the first timestamp", res, err, 0)
	res, err = adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "times")
	check("after the last timestamp", res, err, 10)
	res, err = adm.ListStartOffsets(ctx, "times")
	check("earliest", res, err, 0)
	res, err = adm.ListEndOffsets(ctx, "times")
	check("latest", res, err, 10)
}

func TestTopicAdministration(t *testing.T) {
	b := startBroker(t, "num.partitions=3")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 4, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "admin"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "bad/name"); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("create bad/name: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	details, err := adm.ListTopics(ctx, "admin")
	if err != nil || len(details["admin"].Partitions) != 4 || details["admin"].ID == (kadm.TopicID{}) {
		t.Fatalf("describe: %v %+v", err, details["admin"])
	}
	configValue := func(name string) string {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("admin", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c.MaybeValue()
			}
		}
		t.Fatalf("no config %s", name)
		return ""
	}
	if v := configValue("retention.ms"); v != "60000" {
		t.Fatalf("retention.ms = %s", v)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("120000")}}, "admin"); err != nil {
		t.Fatal(err)
	}
	if v := configValue("retention.ms"); v != "120000" {
		t.Fatalf("retention.ms after alter = %s", v)
	}
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("soon")}}, "admin")
	if err == nil {
		err = resp[0].Err
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("alter retention.ms=soon: %v, want INVALID_CONFIG", err)
	}

	// Auto-create on produce uses num.partitions.
	cl := b.client(t, kgo.DefaultProduceTopic("auto"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	details, err = adm.ListTopics(ctx, "auto")
	if err != nil || len(details["auto"].Partitions) != 3 {
		t.Fatalf("auto-created topic: %v %+v", err, details["auto"])
	}

	dr, err := adm.DeleteTopics(ctx, "admin")
	if err == nil {
		err = dr.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	// A fresh client: kadm answers ListTopics from its client's cached metadata.
	details, err = b.admin(t).ListTopics(ctx, "admin")
	if err == nil && details["admin"].Err == nil {
		t.Fatalf("admin still listed after delete: %+v", details["admin"])
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaGoClient is a kafka-go Client of b with a topic of its own, created
// with the given partitions.
func kafkaGoClient(t *testing.T, b *broker, topic string, partitions int) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &kafka.Client{Addr: kafka.TCP(b.addr), Timeout: 10 * time.Second, Transport: tr}
	res, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Errors[topic]; err != nil {
		t.Fatal(err)
	}
	return c
}

// kafka-go's Client.Fetch sends a sessionless full fetch as session id -1,
// epoch -1; Kafka serves it (a full fetch closes any session it names).
// gregor answered FETCH_SESSION_ID_NOT_FOUND with no topics, which kafka-go
// reports as "topic not found" (its own suite's TestClientFetch).
func TestKafkaGoClientFetch(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := kafkaGoClient(t, b, "kg-fetch", 1)
	var recs []kafka.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, kafka.Record{Value: kafka.NewBytes([]byte(fmt.Sprint("v", i)))})
	}
	pr, err := c.Produce(ctx, &kafka.ProduceRequest{Topic: "kg-fetch", Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...)})
	if err != nil || pr.Error != nil {
		t.Fatal(err, pr)
	}
	res, err := c.Fetch(ctx, &kafka.FetchRequest{Topic: "kg-fetch", Partition: 0, Offset: 0, MinBytes: 1,
		MaxBytes: 1 << 20, MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != nil || res.HighWatermark != 5 {
		t.Fatalf("fetch: error %v, high watermark %d", res.Error, res.HighWatermark)
	}
	for i := 0; i < 5; i++ {
		r, err := res.Records.ReadRecord()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		v, _ := kafka.ReadAll(r.Value)
		if r.Offset != int64(i) || string(v) != fmt.Sprint("v", i) {
			t.Fatalf("record %d: %q at %d", i, v, r.Offset)
		}
	}
}

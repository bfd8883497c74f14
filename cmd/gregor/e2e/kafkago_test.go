package e2e

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
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

// A Metadata request that may create topics, naming a topic just deleted
// whose replicas are not all removed yet (their host is paused), is answered
// at once: the name is free at once, as in Kafka, and the topic is created
// again (kafka-go's TestConn/test_delete_topics timed out when gregor held
// the name and waited 10 s for a topic it had refused to create). The
// answer is the new topic or LEADER_NOT_AVAILABLE, as Kafka reports a topic
// it is creating automatically; once the host resumes, the topic is there.
func TestKafkaGoMetadataOfTopicJustDeleted(t *testing.T) {
	c := clusterUp(t, 3, "auto.create.topics.enable=true")
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	host := int32(2) // a broker that is not the active controller
	if md.ControllerID == 2 {
		host = 3
	}
	c.createOn(t, 1, "kg-del", host)
	// Paused, the host cannot remove its replica: the deletion stays under way.
	pid := c.pid(int(host))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	defer resume()
	cl := &kafka.Client{Addr: kafka.TCP(c.addr(1)), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	del, err := cl.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{"kg-del"}})
	if err != nil || del.Errors["kg-del"] != nil {
		t.Fatal(err, del.Errors)
	}
	waitFor(t, 10*time.Second, "node 1 no longer shows kg-del", func() bool {
		md, err := c.metadata(1, "kg-del") // no auto-creation
		return err == nil && len(md.Topics) == 1 && md.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code
	})
	conn, err := kafka.Dial("tcp", c.addr(1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Metadata v6 with allow_auto_topic_creation.
	start := time.Now()
	conn.SetDeadline(start.Add(5 * time.Second))
	if _, err := conn.ReadPartitions("kg-del"); err != nil && !errors.Is(err, kafka.LeaderNotAvailable) {
		t.Fatalf("ReadPartitions of a topic just deleted, after %v: %v", time.Since(start), err)
	}
	resume()
	waitFor(t, 30*time.Second, "kg-del there again once its old replica's host resumed", func() bool {
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		partitions, err := conn.ReadPartitions("kg-del")
		return err == nil && len(partitions) == 1
	})
}

package e2e

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafka-go's Client admin and offset calls and its Conn API (the
// controller's connection creating and deleting topics, a leader's
// connection writing, seeking and reading a batch), each answer checked
// against Kafka's.
func TestKafkaGoAdminCalls(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := kafkaGoClient(t, b, "kg", 2)
	cp, err := c.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: "kg", Count: 3}}})
	if err != nil || cp.Errors["kg"] != nil {
		t.Errorf("CreatePartitions: %v %+v", err, cp)
	}
	ia, err := c.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "kg",
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "60000", ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil || len(ia.Resources) != 1 || ia.Resources[0].Error != nil {
		t.Errorf("IncrementalAlterConfigs: %v %+v", err, ia)
	}
	dc, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "kg", ConfigNames: []string{"retention.ms"}}}})
	if err != nil || len(dc.Resources) != 1 || len(dc.Resources[0].ConfigEntries) != 1 ||
		dc.Resources[0].ConfigEntries[0].ConfigValue != "60000" || dc.Resources[0].ConfigEntries[0].ConfigSource != 1 {
		t.Errorf("DescribeConfigs: %v %+v", err, dc)
	}

	w := &kafka.Writer{Addr: kafka.TCP(b.addr), Topic: "kg", Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, Compression: kafka.Zstd}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("a"), Value: []byte("1"), Headers: []kafka.Header{{Key: "h", Value: []byte("v")}}},
		kafka.Message{Key: []byte("b"), Value: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{"kg": {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(1)}}})
	if err != nil || len(lo.Topics["kg"]) != 2 {
		t.Fatalf("ListOffsets: %v %+v", err, lo)
	}
	for _, p := range lo.Topics["kg"] {
		if p.Error != nil || (p.Partition == 0 && p.FirstOffset != 0) || (p.Partition == 1 && p.LastOffset != 0) {
			t.Errorf("ListOffsets of partition %d: %+v", p.Partition, p)
		}
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.addr}, GroupID: "kg-group", Topic: "kg", MaxBytes: 1 << 20,
		MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset})
	for i := 0; i < 2; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	of, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "kg-group", Topics: map[string][]int{"kg": {0, 1}}})
	if err != nil || of.Error != nil || len(of.Topics["kg"]) != 2 || of.Topics["kg"][0].CommittedOffset != 2 || of.Topics["kg"][1].CommittedOffset != -1 {
		t.Errorf("OffsetFetch: %v %+v", err, of)
	}
	od, err := c.OffsetDelete(ctx, &kafka.OffsetDeleteRequest{GroupID: "kg-group", Topics: map[string][]int{"kg": {0}}})
	if err != nil || od.Error != nil || od.Topics["kg"][0].Error != nil {
		t.Errorf("OffsetDelete: %v %+v", err, od)
	}
	el, err := c.ElectLeaders(ctx, &kafka.ElectLeadersRequest{Topic: "kg", Partitions: []int{0}})
	if err != nil || len(el.PartitionResults) != 1 || !errors.Is(el.PartitionResults[0].Error, kafka.ElectionNotNeeded) {
		t.Errorf("ElectLeaders of a partition its preferred replica leads: %v %+v", err, el)
	}
	dg, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{"kg-group"}})
	if err != nil || dg.Errors["kg-group"] != nil {
		t.Errorf("DeleteGroups: %v %+v", err, dg)
	}
	dg, err = c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{"kg-group"}})
	if err != nil || !errors.Is(dg.Errors["kg-group"], kafka.GroupIdNotFound) {
		t.Errorf("DeleteGroups of no group: %v %+v", err, dg)
	}

	// The Conn API.
	conn, err := kafka.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil || ctrl.ID != 1 {
		t.Fatalf("Controller: %v %+v", err, ctrl)
	}
	cc, err := kafka.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafka.TopicConfig{Topic: "kg-conn", NumPartitions: 2, ReplicationFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if ps, err := conn.ReadPartitions("kg-conn"); err != nil || len(ps) != 2 {
		t.Errorf("ReadPartitions: %v %+v", err, ps)
	}
	lc, err := kafka.DialLeader(ctx, "tcp", b.addr, "kg-conn", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	_ = lc.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := lc.WriteMessages(kafka.Message{Value: []byte("one")}, kafka.Message{Key: []byte("k"), Value: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.WriteCompressedMessages(kafka.Snappy.Codec(), kafka.Message{Value: []byte("three")}); err != nil {
		t.Fatal(err)
	}
	if first, last, err := lc.ReadOffsets(); err != nil || first != 0 || last != 3 {
		t.Errorf("ReadOffsets: %d %d %v", first, last, err)
	}
	if _, err := lc.Seek(1, kafka.SeekAbsolute); err != nil {
		t.Fatal(err)
	}
	batch := lc.ReadBatch(1, 1<<20)
	var got []string
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		got = append(got, string(m.Value))
	}
	if err := batch.Close(); err != nil || len(got) != 2 || got[0] != "two" || got[1] != "three" || batch.HighWaterMark() != 3 {
		t.Errorf("ReadBatch from offset 1: %v %q high watermark %d", err, got, batch.HighWaterMark())
	}
	if err := cc.DeleteTopics("kg-conn"); err != nil {
		t.Errorf("DeleteTopics: %v", err)
	}
	if err := cc.DeleteTopics("kg-conn"); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Errorf("DeleteTopics of no topic: %v", err)
	}
}

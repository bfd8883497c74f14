package e2e

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaCheck collects what differed from Kafka's answer, so that one run
// reports every call that did.
type saramaCheck struct {
	t *testing.T
}

func (c saramaCheck) nil(what string, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Errorf("%s: %v", what, err)
	}
}

func (c saramaCheck) is(what string, err, want error) {
	c.t.Helper()
	if !errors.Is(err, want) {
		c.t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// The sarama ClusterAdmin calls a user makes (topics with configs and
// validate-only, partitions, configs of topics and brokers, incremental
// list appends and subtractions, records deleted, group offsets through
// the offset manager, groups described and deleted, the cluster, log
// directories, SCRAM users and quotas), and a transactional producer's
// committed and aborted transactions read back read_committed, each answer
// checked against Kafka's.
func TestSaramaClusterAdmin(t *testing.T) {
	b := startBroker(t)
	c := saramaCheck{t}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cl, err := sarama.NewClient([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ca, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}

	ret := "60000"
	c.nil("CreateTopic", ca.CreateTopic("sa", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": &ret}}, false))
	c.nil("CreateTopic validate-only", ca.CreateTopic("sa-validate", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, true))
	c.is("CreateTopic twice", ca.CreateTopic("sa", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false), sarama.ErrTopicAlreadyExists)
	topics, err := ca.ListTopics()
	c.nil("ListTopics", err)
	if _, ok := topics["sa-validate"]; ok || topics["sa"].NumPartitions != 2 || *topics["sa"].ConfigEntries["retention.ms"] != "60000" {
		t.Errorf("ListTopics: %+v", topics)
	}
	described, err := ca.DescribeTopics([]string{"sa", "nope"})
	c.nil("DescribeTopics", err)
	if len(described) != 2 || described[0].Err != sarama.ErrNoError || len(described[0].Partitions) != 2 || described[1].Err != sarama.ErrUnknownTopicOrPartition {
		t.Errorf("DescribeTopics: %+v", described)
	}
	c.nil("CreatePartitions", ca.CreatePartitions("sa", 3, nil, false))
	c.nil("CreatePartitions validate-only", ca.CreatePartitions("sa", 9, nil, true))
	c.is("CreatePartitions fewer", ca.CreatePartitions("sa", 1, nil, false), sarama.ErrInvalidPartitions)
	c.nil("RefreshMetadata", cl.RefreshMetadata("sa"))
	if ps, err := cl.Partitions("sa"); err != nil || len(ps) != 3 {
		t.Errorf("partitions after CreatePartitions: %v %v", ps, err)
	}

	// Configs: the topic's own, a broker's, the broker-wide defaults.
	entries, err := ca.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sa", ConfigNames: []string{"retention.ms"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "60000" || entries[0].Source != sarama.SourceTopic {
		t.Errorf("DescribeConfig of the topic: %v %+v", err, entries)
	}
	entries, err = ca.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1"})
	if err != nil || len(entries) < 50 {
		t.Errorf("DescribeConfig of broker 1: %v, %d configs", err, len(entries))
	}
	entries, err = ca.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: ""})
	if err != nil || len(entries) != 0 {
		t.Errorf("DescribeConfig of the broker defaults before any is set: %v %+v", err, entries)
	}
	day := "86400000"
	c.nil("AlterConfig of the broker defaults", ca.AlterConfig(sarama.BrokerResource, "", map[string]*string{"log.retention.ms": &day}, false))
	entries, err = ca.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: ""})
	if err != nil || len(entries) != 1 || entries[0].Name != "log.retention.ms" || entries[0].Value != day || entries[0].Source != sarama.SourceDynamicDefaultBroker {
		t.Errorf("DescribeConfig of the broker defaults: %v %+v", err, entries)
	}
	compact, deleteP := "compact", "delete"
	c.nil("IncrementalAlterConfig", ca.IncrementalAlterConfig(sarama.TopicResource, "sa", map[string]sarama.IncrementalAlterConfigsEntry{
		"cleanup.policy": {Operation: sarama.IncrementalAlterConfigsOperationAppend, Value: &compact},
		"retention.ms":   {Operation: sarama.IncrementalAlterConfigsOperationDelete}}, false))
	c.nil("IncrementalAlterConfig subtract", ca.IncrementalAlterConfig(sarama.TopicResource, "sa", map[string]sarama.IncrementalAlterConfigsEntry{
		"cleanup.policy": {Operation: sarama.IncrementalAlterConfigsOperationSubtract, Value: &compact}}, false))
	entries, err = ca.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sa", ConfigNames: []string{"cleanup.policy", "retention.ms"}})
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = fmt.Sprint(e.Value, "/", e.Source)
	}
	if err != nil || got["cleanup.policy"] != "delete/Topic" || got["retention.ms"] != day+"/DynamicDefaultBroker" {
		t.Errorf("after IncrementalAlterConfig: %v %v", err, got)
	}
	c.is("IncrementalAlterConfig append to a non-list", ca.IncrementalAlterConfig(sarama.TopicResource, "sa", map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationAppend, Value: &deleteP}}, false), sarama.ErrInvalidConfig)

	// Records, then DeleteRecords.
	sp, err := sarama.NewSyncProducerFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "sa", Partition: 0, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(fmt.Sprint(i))})
		c.nil("SendMessage", err)
	}
	c.nil("DeleteRecords", ca.DeleteRecords("sa", map[int32]int64{0: 4}))
	c.is("DeleteRecords past the high watermark", ca.DeleteRecords("sa", map[int32]int64{0: 11}), sarama.ErrDeleteRecords)
	if o, err := cl.GetOffset("sa", 0, sarama.OffsetOldest); err != nil || o != 4 {
		t.Errorf("log start offset after DeleteRecords: %d %v", o, err)
	}

	// Group offsets through the offset manager.
	om, err := sarama.NewOffsetManagerFromClient("sa-group", cl)
	if err != nil {
		t.Fatal(err)
	}
	pom, err := om.ManagePartition("sa", 0)
	c.nil("ManagePartition", err)
	if next, _ := pom.NextOffset(); next != sarama.OffsetNewest {
		t.Errorf("NextOffset with nothing committed: %d", next)
	}
	pom.MarkOffset(7, "seven")
	om.Commit()
	c.nil("close the partition offset manager", pom.Close())
	c.nil("close the offset manager", om.Close())
	offsets, err := ca.ListConsumerGroupOffsets("sa-group", map[string][]int32{"sa": {0, 1}})
	if err != nil || offsets.Blocks["sa"][0].Offset != 7 || offsets.Blocks["sa"][0].Metadata != "seven" || offsets.Blocks["sa"][1].Offset != -1 {
		t.Errorf("ListConsumerGroupOffsets: %v %+v", err, offsets)
	}
	groups, err := ca.ListConsumerGroups()
	if err != nil || len(groups) != 1 {
		t.Errorf("ListConsumerGroups: %v %v", err, groups)
	}
	gd, err := ca.DescribeConsumerGroups([]string{"sa-group"})
	if err != nil || len(gd) != 1 || gd[0].State != "Empty" {
		t.Errorf("DescribeConsumerGroups: %v %+v", err, gd)
	}
	c.nil("DeleteConsumerGroupOffset", ca.DeleteConsumerGroupOffset("sa-group", "sa", 0))
	c.nil("DeleteConsumerGroup", ca.DeleteConsumerGroup("sa-group"))
	c.is("DeleteConsumerGroup of no group", ca.DeleteConsumerGroup("sa-group"), sarama.ErrGroupIDNotFound)

	brokers, controller, err := ca.DescribeCluster()
	if err != nil || len(brokers) != 1 || controller != 1 {
		t.Errorf("DescribeCluster: %v %v %d", err, brokers, controller)
	}
	dirs, err := ca.DescribeLogDirs([]int32{1})
	if err != nil || len(dirs[1]) != 1 || dirs[1][0].ErrorCode != sarama.ErrNoError || dirs[1][0].Path != b.dir {
		t.Errorf("DescribeLogDirs: %v %+v", err, dirs)
	}
	if users, err := ca.DescribeUserScramCredentials(nil); err != nil || len(users) != 0 {
		t.Errorf("DescribeUserScramCredentials: %v %+v", err, users)
	}
	if quotas, err := ca.DescribeClientQuotas(nil, false); err != nil || len(quotas) != 0 {
		t.Errorf("DescribeClientQuotas: %v %+v", err, quotas)
	}
	c.nil("DeleteTopic", ca.DeleteTopic("sa"))
	c.is("DeleteTopic of no topic", ca.DeleteTopic("sa"), sarama.ErrUnknownTopicOrPartition)
}

// A sarama transactional producer commits, aborts and commits again, with
// the group's offsets in its transactions; a read_committed sarama consumer
// reads the committed records alone, and the group has the committed
// transactions' offset.
func TestSaramaTransactionalProducer(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Transaction.ID = "sarama-tx"
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionZSTD
	cfg.Metadata.AllowAutoTopicCreation = true
	sp, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for round := 0; round < 3; round++ {
		if err := sp.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if _, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "satx", Value: sarama.StringEncoder(fmt.Sprint(round, "-", i))}); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if err := sp.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{"satx": {{Partition: 0, Offset: int64(round)}}}, "satx-group"); err != nil {
			t.Fatal(err)
		}
		end := sp.CommitTxn
		if round == 1 {
			end = sp.AbortTxn
		}
		if err := end(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}

	ccfg := sarama.NewConfig()
	ccfg.Version = sarama.V3_6_0_0
	ccfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cons, err := sarama.NewConsumer([]string{b.addr}, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("satx", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	for len(got) < 10 {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatalf("read_committed read %v", got)
		}
	}
	want := "[0-0 0-1 0-2 0-3 0-4 2-0 2-1 2-2 2-3 2-4]"
	if fmt.Sprint(got) != want {
		t.Fatalf("read_committed read %v, want %s", got, want)
	}
	ca, err := sarama.NewClusterAdmin([]string{b.addr}, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	offsets, err := ca.ListConsumerGroupOffsets("satx-group", map[string][]int32{"satx": {0}})
	if err != nil || offsets.Blocks["satx"][0].Offset != 2 {
		t.Fatalf("the group's offset: %v %+v", err, offsets)
	}
}

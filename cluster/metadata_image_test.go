package cluster

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func strp(s string) *string { return &s }

// topicRecords creates a topic with count single-replica partitions on broker
// 1 and the given configs.
func topicRecords(name string, id TopicID, count int32, configs ...string) []MetadataRecord {
	recs := []MetadataRecord{TopicRecord{Name: name, TopicID: id}}
	for i := 0; i+1 < len(configs); i += 2 {
		recs = append(recs, ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: name, Name: configs[i], Value: strp(configs[i+1])})
	}
	for _, p := range SingleNodePartitions(0, count, 1) {
		recs = append(recs, PartitionRecord{TopicID: id, Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader})
	}
	return recs
}

func applied(t testing.TB, m *MetadataImage, recs ...MetadataRecord) *MetadataImage {
	t.Helper()
	next, err := m.Apply(recs...)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func TestMetadataImageApply(t *testing.T) {
	idA, idB := TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, TopicID{9}
	m := applied(t, NewMetadataImage(), topicRecords("a", idA, 1, "retention.ms", "1000")...)
	m = applied(t, m, topicRecords("b", idB, 2)...)
	before := m
	m = applied(t, m,
		PartitionRecord{TopicID: idA, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "a", Name: "retention.ms"},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "a", Name: "cleanup.policy", Value: strp("compact")},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, Name: "log.retention.ms", Value: strp("5")},
		PartitionChangeRecord{TopicID: idB, Partition: 1, Leader: -1, ISR: []int32{}},
	)
	a, ok := m.Topic("a")
	if !ok || a.PartitionCount() != 2 || a.ReplicationFactor != 1 || !reflect.DeepEqual(a.Configs, map[string]string{"cleanup.policy": "compact"}) {
		t.Fatalf("topic a = %+v", a)
	}
	if byID, ok := m.TopicByID(idA); !ok || byID != a {
		t.Fatalf("by id: %+v %v", byID, ok)
	}
	b, _ := m.Topic("b")
	if p := b.Partitions[1]; p.Leader != -1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 || len(p.ISR) != 0 || !reflect.DeepEqual(p.Replicas, []int32{1}) {
		t.Fatalf("changed partition %+v", p)
	}
	if m.BrokerConfigs()["log.retention.ms"] != "5" || m.Epoch != int64(len(topicRecords("a", idA, 1, "k", "v"))+len(topicRecords("b", idB, 2))+5) {
		t.Fatalf("broker configs %v, epoch %d", m.BrokerConfigs(), m.Epoch)
	}
	// The older image is as it was.
	oldA, _ := before.Topic("a")
	oldB, _ := before.Topic("b")
	if oldA.PartitionCount() != 1 || oldA.Configs["retention.ms"] != "1000" || oldB.Partitions[1].Leader != 1 || len(before.BrokerConfigs()) != 0 {
		t.Fatalf("Apply changed the image it was called on: %+v %+v", oldA, oldB)
	}
	if other, ok := m.CollidingTopic("a"); ok {
		t.Fatalf("a collides with %q", other)
	}

	del := applied(t, m, RemoveTopicRecord{TopicID: idA})
	if _, ok := del.Topic("a"); ok {
		t.Fatal("deleted topic still there")
	}
	if _, ok := del.TopicByID(idA); ok {
		t.Fatal("deleted topic id still there")
	}
	if fmt.Sprint(del.TopicNames()) != "[b]" || del.TopicCount() != 1 {
		t.Fatalf("topics %v", del.TopicNames())
	}
}

// TestMetadataImageSharesWhatDidNotChange: a record copies the topic it
// changes and nothing else; a config change leaves the partitions shared.
func TestMetadataImageSharesWhatDidNotChange(t *testing.T) {
	m := applied(t, NewMetadataImage(), topicRecords("a", TopicID{1}, 3)...)
	m = applied(t, m, topicRecords("b", TopicID{2}, 3)...)
	next := applied(t, m, ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "a", Name: "retention.ms", Value: strp("1")})
	a0, _ := m.Topic("a")
	a1, _ := next.Topic("a")
	b0, _ := m.Topic("b")
	b1, _ := next.Topic("b")
	if b0 != b1 {
		t.Fatal("an unchanged topic was copied")
	}
	if a0 == a1 || &a0.Partitions[0] != &a1.Partitions[0] {
		t.Fatal("a config change must copy the topic and share its partitions")
	}
}

func TestMetadataImageCollidingTopic(t *testing.T) {
	m := applied(t, NewMetadataImage(), topicRecords("a.b", TopicID{1}, 1)...)
	if other, ok := m.CollidingTopic("a_b"); !ok || other != "a.b" {
		t.Fatalf("a_b collides with %q %t", other, ok)
	}
	m = applied(t, m, RemoveTopicRecord{TopicID: TopicID{1}})
	if _, ok := m.CollidingTopic("a_b"); ok {
		t.Fatal("a removed topic still collides")
	}
}

func TestMetadataImageRefusesRecordsThatDoNotFit(t *testing.T) {
	m := applied(t, NewMetadataImage(), topicRecords("a", TopicID{1}, 2)...)
	for _, rec := range []MetadataRecord{
		TopicRecord{Name: "a", TopicID: TopicID{2}},
		TopicRecord{Name: "b", TopicID: TopicID{1}},
		TopicRecord{Name: "b"},
		TopicRecord{TopicID: TopicID{3}},
		PartitionRecord{TopicID: TopicID{1}, Partition: 3, Replicas: []int32{1}},
		PartitionRecord{TopicID: TopicID{1}, Partition: 2},
		PartitionRecord{TopicID: TopicID{7}, Partition: 0, Replicas: []int32{1}},
		PartitionChangeRecord{TopicID: TopicID{1}, Partition: 2, Leader: NoLeaderChange},
		PartitionChangeRecord{TopicID: TopicID{1}, Partition: 0, Leader: NoLeaderChange, Replicas: []int32{}},
		RemoveTopicRecord{TopicID: TopicID{7}},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "x", Name: "retention.ms"},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "one", Name: "log.retention.ms"},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "-1", Name: "log.retention.ms"},
		ConfigRecord{ResourceType: kmsg.ConfigResourceType(32), ResourceName: "g", Name: "x"},
		ClusterIDRecord{},
	} {
		if _, err := m.Apply(rec); err == nil {
			t.Errorf("%v was applied", rec)
		}
	}
	// The cluster id is named once.
	named := applied(t, m, ClusterIDRecord{ClusterID: "c1"})
	if _, err := named.Apply(ClusterIDRecord{ClusterID: "c2"}); err == nil || named.ClusterID() != "c1" {
		t.Errorf("the cluster id %q was renamed: %v", named.ClusterID(), err)
	}
	if again := applied(t, named, ClusterIDRecord{ClusterID: "c1"}); again.ClusterID() != "c1" {
		t.Errorf("cluster id %q", again.ClusterID())
	}
	// A batch that fails part-way applies nothing.
	if _, err := m.Apply(RemoveTopicRecord{TopicID: TopicID{1}}, RemoveTopicRecord{TopicID: TopicID{1}}); err == nil {
		t.Error("a batch removing one topic twice was applied")
	}
	if _, ok := m.Topic("a"); !ok {
		t.Error("a failed batch changed the image")
	}
}

func TestMetadataImageSnapshotRecordsRebuildIt(t *testing.T) {
	m := applied(t, NewMetadataImage(), topicRecords("b", TopicID{2}, 2, "retention.ms", "7", "cleanup.policy", "compact")...)
	m = applied(t, m, topicRecords("a", TopicID{1}, 1)...)
	m = applied(t, m, ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, Name: "log.retention.bytes", Value: strp("9")},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "2", Name: "log.segment.bytes", Value: strp("4096")},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "3", Name: "log.segment.bytes", Value: strp("8192")},
		ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "3", Name: "log.segment.bytes"},
		PartitionChangeRecord{TopicID: TopicID{2}, Partition: 1, Leader: -1}, ClusterIDRecord{ClusterID: "c"},
		ProducerIdsRecord{BrokerID: 1, NextProducerID: 2000},
		// An emptied ISR with eligible leader replicas and last known ones.
		PartitionChangeRecord{TopicID: TopicID{2}, Partition: 0, Leader: -1, ISR: []int32{}, ELR: []int32{1}, LastKnownELR: []int32{2}})
	// Broker 3's one config was deleted: it has none left.
	if got := m.ConfiguredNodes(); !reflect.DeepEqual(got, []int32{2}) || m.NodeConfigs(2)["log.segment.bytes"] != "4096" {
		t.Fatalf("brokers with configs of their own %v (broker 2: %v), want [2] with log.segment.bytes=4096", got, m.NodeConfigs(2))
	}
	if p := mustTopic(t, m, "b").Partitions[0]; !reflect.DeepEqual(p.ELR, []int32{1}) || !reflect.DeepEqual(p.LastKnownELR, []int32{2}) || p.ISR == nil || len(p.ISR) != 0 {
		t.Fatalf("partition b-0 %+v, want ISR [], ELR [1], last known ELR [2]", p)
	}
	// Broker 4 registered and unregistered: its last epoch stays known.
	m = applied(t, m, RegisterBrokerRecord{BrokerID: 4, IncarnationID: IncarnationID{4}, BrokerEpoch: 30}, UnregisterBrokerRecord{BrokerID: 4, BrokerEpoch: 30})
	back, err := ImageFromSnapshot(m.Epoch, m.SnapshotRecords())
	if err != nil {
		t.Fatal(err)
	}
	assertSameImage(t, back, m)
	if _, ok := back.Broker(4); ok {
		t.Fatal("broker 4 registered after the snapshot")
	}
	if e, ok := back.UnregisteredEpoch(4); !ok || e != 30 {
		t.Fatalf("broker 4's epoch when unregistered %d (%v) after the snapshot, want 30", e, ok)
	}
	if _, ok := applied(t, back, RegisterBrokerRecord{BrokerID: 4, IncarnationID: IncarnationID{5}, BrokerEpoch: 40}).UnregisteredEpoch(4); ok {
		t.Fatal("broker 4 still unregistered once registered again")
	}
}

func mustTopic(t *testing.T, m *MetadataImage, name string) *TopicImage {
	t.Helper()
	tp, ok := m.Topic(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return tp
}

func assertSameImage(t *testing.T, got, want *MetadataImage) {
	t.Helper()
	if got.Epoch != want.Epoch || got.ClusterID() != want.ClusterID() || got.NextProducerID() != want.NextProducerID() || !reflect.DeepEqual(got.TopicNames(), want.TopicNames()) || !reflect.DeepEqual(got.BrokerConfigs(), want.BrokerConfigs()) {
		t.Fatalf("image at epoch %d with %v %v, want epoch %d with %v %v", got.Epoch, got.TopicNames(), got.BrokerConfigs(), want.Epoch, want.TopicNames(), want.BrokerConfigs())
	}
	if !reflect.DeepEqual(got.ConfiguredNodes(), want.ConfiguredNodes()) {
		t.Fatalf("brokers with configs of their own %v, want %v", got.ConfiguredNodes(), want.ConfiguredNodes())
	}
	for _, node := range want.ConfiguredNodes() {
		if !reflect.DeepEqual(got.NodeConfigs(node), want.NodeConfigs(node)) {
			t.Fatalf("broker %d's own configs %v, want %v", node, got.NodeConfigs(node), want.NodeConfigs(node))
		}
	}
	for w := range want.Topics() {
		g, _ := got.Topic(w.Name)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("topic %s = %+v, want %+v", w.Name, g, w)
		}
	}
	if got.BrokerCount() != want.BrokerCount() {
		t.Fatalf("%d brokers, want %d", got.BrokerCount(), want.BrokerCount())
	}
	for w := range want.Brokers() {
		if g, _ := got.Broker(w.ID); !reflect.DeepEqual(g, w) {
			t.Fatalf("broker %d = %+v, want %+v", w.ID, g, w)
		}
	}
}

func TestLegacySnapshots(t *testing.T) {
	v1 := `{"version": 1, "epoch": 7, "topics": [{"Name": "a", "ID": "01020304-0506-0708-090a-0b0c0d0e0f10", "Partitions": 2, "ReplicationFactor": 1, "Configs": {"retention.ms": "5"}}], "broker_configs": {"log.retention.ms": "9"}}`
	m, err := UnmarshalLegacySnapshot([]byte(v1), 3)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := m.Topic("a")
	want := []PartitionImage{
		{Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
		{Partition: 1, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
	}
	if !ok || !reflect.DeepEqual(a.Partitions, want) || a.Configs["retention.ms"] != "5" || m.Epoch != 7 || a.ReplicationFactor != 1 {
		t.Fatalf("topic a = %+v, epoch %d", a, m.Epoch)
	}
	if a.ID.String() != "01020304-0506-0708-090a-0b0c0d0e0f10" {
		t.Fatalf("id %s", a.ID)
	}
	if m.BrokerConfigs()["log.retention.ms"] != "9" {
		t.Fatalf("broker configs %v", m.BrokerConfigs())
	}

	// Version 2 as main wrote it before records had a durable form.
	v2 := `{"version": 2, "epoch": 12, "topics": [{"Name": "b", "ID": "00000000-0000-0000-0000-000000000009",
	  "Partitions": [{"Partition": 0, "Replicas": [1], "ISR": [1], "Leader": 1, "LeaderEpoch": 4, "PartitionEpoch": 6}],
	  "ReplicationFactor": 1, "Configs": {}}], "broker_configs": {"log.retention.bytes": "1"}}`
	m, err = UnmarshalLegacySnapshot([]byte(v2), 3)
	if err != nil {
		t.Fatal(err)
	}
	b, ok := m.Topic("b")
	if !ok || m.Epoch != 12 || b.Partitions[0].LeaderEpoch != 4 || b.Partitions[0].PartitionEpoch != 6 || b.Partitions[0].Leader != 1 || len(b.Configs) != 0 {
		t.Fatalf("topic b = %+v, epoch %d", b, m.Epoch)
	}

	for _, bad := range []string{`{"version":99}`, `{`, `{"version":1,"topics":[{"Name":"x","ID":"00000000-0000-0000-0000-000000000001","Partitions":[]}]}`} {
		if _, err := UnmarshalLegacySnapshot([]byte(bad), 1); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// BenchmarkMetadataImageApply times one record that changes a topic's
// config on images of 10 and 10,000 topics: the cost follows the depth of
// the image's trees, not the number of topics.
func BenchmarkMetadataImageApply(b *testing.B) {
	for _, topics := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("topics=%d", topics), func(b *testing.B) {
			m := NewMetadataImage()
			var recs []MetadataRecord
			for i := range topics {
				recs = append(recs, topicRecords(fmt.Sprintf("topic-%05d", i), TopicID{byte(i >> 8), byte(i), 1}, 3)...)
			}
			m = applied(b, m, recs...)
			rec := ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "topic-00005", Name: "retention.ms", Value: strp("1")}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Apply(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMetadataImageBrokers: registrations, their changes and their removal,
// the checks on broker epochs, and a snapshot that keeps them.
func TestMetadataImageBrokers(t *testing.T) {
	eps := []BrokerEndpoint{{Name: "CONTROLLER", Host: "h1", Port: 9093}, {Name: "PLAINTEXT", Host: "h1", Port: 9092}}
	m := applied(t, NewMetadataImage(),
		RegisterBrokerRecord{BrokerID: 1, IncarnationID: IncarnationID{1}, BrokerEpoch: 0, Endpoints: eps, Rack: strp("a"), Fenced: true},
		RegisterBrokerRecord{BrokerID: 2, IncarnationID: IncarnationID{2}, BrokerEpoch: 1, Fenced: true},
		BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 0, Fenced: UnfenceBroker},
	)
	b1, ok := m.Broker(1)
	if !ok || b1.Fenced || !b1.Active() || b1.RackName() != "a" || b1.Epoch != 0 {
		t.Fatalf("broker 1 = %+v", b1)
	}
	if e, ok := b1.Endpoint("PLAINTEXT"); !ok || e.Port != 9092 {
		t.Fatalf("PLAINTEXT endpoint %+v %v", e, ok)
	}
	if _, ok := b1.Endpoint("SSL"); ok {
		t.Fatal("an SSL endpoint")
	}
	if m.BrokerCount() != 2 || m.LastOffset() != 2 {
		t.Fatalf("%d brokers, last offset %d", m.BrokerCount(), m.LastOffset())
	}
	for name, bad := range map[string]MetadataRecord{
		"stale epoch change":          BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 7, Fenced: FenceBroker},
		"unknown broker":              BrokerRegistrationChangeRecord{BrokerID: 3, Fenced: FenceBroker},
		"unknown fencing change":      BrokerRegistrationChangeRecord{BrokerID: 1, Fenced: 3},
		"new incarnation, old epoch":  RegisterBrokerRecord{BrokerID: 2, IncarnationID: IncarnationID{3}, BrokerEpoch: 1},
		"same incarnation, new epoch": RegisterBrokerRecord{BrokerID: 2, IncarnationID: IncarnationID{2}, BrokerEpoch: 5},
		"unsorted endpoints":          RegisterBrokerRecord{BrokerID: 4, Endpoints: []BrokerEndpoint{eps[1], eps[0]}},
		"unregister stale epoch":      UnregisterBrokerRecord{BrokerID: 2, BrokerEpoch: 0},
	} {
		if _, err := m.Apply(bad); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	next := applied(t, m,
		RegisterBrokerRecord{BrokerID: 2, IncarnationID: IncarnationID{3}, BrokerEpoch: 3, Fenced: true},
		BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 0, InControlledShutdown: true},
	)
	if b, _ := next.Broker(1); b.Active() || !b.InControlledShutdown || b.Fenced {
		t.Fatalf("broker 1 in controlled shutdown: %+v", b)
	}
	if b, _ := next.Broker(2); b.IncarnationID != (IncarnationID{3}) || b.Epoch != 3 {
		t.Fatalf("broker 2 re-registered: %+v", b)
	}
	if b, _ := m.Broker(1); b.InControlledShutdown {
		t.Fatal("Apply changed the image it was called on")
	}
	snap, err := ImageFromSnapshot(next.Epoch, next.SnapshotRecords())
	if err != nil {
		t.Fatal(err)
	}
	assertSameImage(t, snap, next)
	gone := applied(t, next, UnregisterBrokerRecord{BrokerID: 2, BrokerEpoch: 3})
	if _, ok := gone.Broker(2); ok || gone.BrokerCount() != 1 {
		t.Fatal("broker 2 still registered")
	}
}

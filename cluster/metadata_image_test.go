package cluster

import (
	"reflect"
	"testing"
)

func TestMetadataImageApplyAndSnapshot(t *testing.T) {
	m := NewMetadataImage()
	id := TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	steps := []MetadataRecord{
		TopicCreated{Topic: TopicImage{Name: "a", ID: id, Partitions: SingleNodePartitions(0, 1, 1), ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}},
		PartitionsCreated{Topic: "a", Partitions: SingleNodePartitions(1, 3, 1)},
		TopicConfigsSet{Topic: "a", Configs: map[string]string{"cleanup.policy": "compact"}},
		TopicCreated{Topic: TopicImage{Name: "b", ID: TopicID{9}, Partitions: SingleNodePartitions(0, 2, 1), ReplicationFactor: 1}},
		BrokerConfigsSet{Configs: map[string]string{"log.retention.ms": "5"}},
	}
	for _, rec := range steps {
		next, err := m.Apply(rec)
		if err != nil {
			t.Fatalf("apply %T: %v", rec, err)
		}
		m = next
	}
	a, ok := m.Topic("a")
	if !ok || a.PartitionCount() != 3 || a.Configs["cleanup.policy"] != "compact" || len(a.Configs) != 1 {
		t.Fatalf("topic a = %+v", a)
	}
	if byID, ok := m.TopicByID(id); !ok || byID.Name != "a" {
		t.Fatalf("by id: %+v %v", byID, ok)
	}
	snap, err := m.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalMetadataSnapshot(snap, 1)
	if err != nil {
		t.Fatal(err)
	}
	if back.Epoch != m.Epoch || !reflect.DeepEqual(back.TopicNames(), m.TopicNames()) {
		t.Fatalf("snapshot round trip: %v %v", back.Epoch, back.TopicNames())
	}
	if back.BrokerConfigs()["log.retention.ms"] != "5" {
		t.Fatalf("broker configs after round trip: %v", back.BrokerConfigs())
	}
	ba, _ := back.Topic("a")
	if !reflect.DeepEqual(ba, a) {
		t.Fatalf("topic a after round trip = %+v, want %+v", ba, a)
	}
	if id.String() != "01020304-0506-0708-090a-0b0c0d0e0f10" {
		t.Fatalf("id string %s", id)
	}

	del, err := m.Apply(TopicDeleted{Topic: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := del.Topic("a"); ok {
		t.Fatal("deleted topic still there")
	}
	if _, ok := del.TopicByID(id); ok {
		t.Fatal("deleted topic id still there")
	}
	if _, ok := m.Topic("a"); !ok {
		t.Fatal("Apply changed the image it was called on")
	}
}

func TestMetadataImageRefusesRecordsThatDoNotFit(t *testing.T) {
	m, _ := NewMetadataImage().Apply(TopicCreated{Topic: TopicImage{Name: "a", ID: TopicID{1}, Partitions: SingleNodePartitions(0, 2, 1)}})
	for _, rec := range []MetadataRecord{
		TopicCreated{Topic: TopicImage{Name: "a", ID: TopicID{2}, Partitions: SingleNodePartitions(0, 1, 1)}},
		TopicCreated{Topic: TopicImage{Name: "b", ID: TopicID{1}, Partitions: SingleNodePartitions(0, 1, 1)}},
		TopicCreated{Topic: TopicImage{Name: "c", ID: TopicID{3}, Partitions: SingleNodePartitions(1, 2, 1)}},
		PartitionsCreated{Topic: "a"},
		PartitionsCreated{Topic: "a", Partitions: SingleNodePartitions(1, 3, 1)},
		PartitionsCreated{Topic: "x", Partitions: SingleNodePartitions(0, 5, 1)},
		TopicDeleted{Topic: "x"},
		TopicConfigsSet{Topic: "x"},
	} {
		if _, err := m.Apply(rec); err == nil {
			t.Errorf("%#v was applied", rec)
		}
	}
	if _, err := UnmarshalMetadataSnapshot([]byte(`{"version":99}`), 1); err == nil {
		t.Error("unknown snapshot version accepted")
	}
	if _, err := UnmarshalMetadataSnapshot([]byte(`{`), 1); err == nil {
		t.Error("truncated snapshot accepted")
	}
}

func TestMetadataSnapshotVersion1IsReadAsSingleNode(t *testing.T) {
	v1 := `{"version": 1, "epoch": 7, "topics": [{"Name": "a", "ID": "01020304-0506-0708-090a-0b0c0d0e0f10", "Partitions": 2, "ReplicationFactor": 1, "Configs": {"retention.ms": "5"}}], "broker_configs": {"log.retention.ms": "9"}}`
	m, err := UnmarshalMetadataSnapshot([]byte(v1), 3)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := m.Topic("a")
	want := []PartitionImage{
		{Partition: 0, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
		{Partition: 1, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3},
	}
	if !ok || !reflect.DeepEqual(a.Partitions, want) || a.Configs["retention.ms"] != "5" || m.Epoch != 7 {
		t.Fatalf("topic a = %+v, epoch %d", a, m.Epoch)
	}
	if m.BrokerConfigs()["log.retention.ms"] != "9" {
		t.Fatalf("broker configs %v", m.BrokerConfigs())
	}
}

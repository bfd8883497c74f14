package cluster

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// everyRecord holds one record of each type, with edge values.
var everyRecord = []MetadataRecord{
	TopicRecord{Name: "orders", TopicID: TopicID{1, 2, 3}},
	PartitionRecord{TopicID: TopicID{1, 2, 3}, Partition: 7, Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: -1, LeaderEpoch: 1 << 30, PartitionEpoch: -5},
	PartitionChangeRecord{TopicID: TopicID{1}, Partition: 0, Leader: NoLeaderChange, ISR: []int32{2}},
	PartitionChangeRecord{TopicID: TopicID{1}, Partition: 1, Leader: 3, Replicas: []int32{3, 2}},
	RemoveTopicRecord{TopicID: TopicID{255, 254}},
	ClusterIDRecord{ClusterID: "MkU3OEVBNTcwNTJENDM2Qk"},
	ProducerIdsRecord{BrokerID: -1, BrokerEpoch: 1 << 41, NextProducerID: 1<<62 + 3},
	FeatureLevelRecord{Name: TransactionVersionFeature, FeatureLevel: 32767},
	ConfigRecord{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "orders", Name: "retention.ms", Value: strp("")},
	ConfigRecord{ResourceType: kmsg.ConfigResourceTypeBroker, Name: "log.retention.ms"},
	PartitionRecord{TopicID: TopicID{4}, Partition: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{3}, RemovingReplicas: []int32{}},
	PartitionChangeRecord{TopicID: TopicID{4}, Partition: 1, Leader: NoLeaderChange, AddingReplicas: []int32{}, RemovingReplicas: []int32{2}},
	PartitionRecord{TopicID: TopicID{5}, Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: -1, ELR: []int32{2, 3}, LastKnownELR: []int32{1}},
	PartitionChangeRecord{TopicID: TopicID{5}, Leader: 2, ISR: []int32{2}, ELR: []int32{3}},
	PartitionChangeRecord{TopicID: TopicID{5}, Leader: NoLeaderChange, ELR: []int32{}, LastKnownELR: []int32{}},
	RegisterBrokerRecord{BrokerID: 1, IncarnationID: IncarnationID{7, 8}, BrokerEpoch: 1 << 40, Fenced: true,
		Endpoints: []BrokerEndpoint{{Name: "CONTROLLER", Host: "127.0.0.1", Port: 9093}, {Name: "PLAINTEXT", Host: "h", Port: 65535, SecurityProtocol: -3}}},
	RegisterBrokerRecord{BrokerID: 2, Rack: strp("rack-a"), InControlledShutdown: true},
	RegisterBrokerRecord{BrokerID: 3, Features: []FeatureRange{{Name: TransactionVersionFeature, MinVersion: 0, MaxVersion: 2}, {Name: "x", MinVersion: -1, MaxVersion: 32767}}},
	RegisterBrokerRecord{BrokerID: 4, CleanFrom: func() *int64 { v := int64(1 << 40); return &v }()},
	BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 9, Fenced: UnfenceBroker},
	BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 9, Fenced: FenceBroker, InControlledShutdown: true},
	BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 9, OfflineDirs: [][16]byte{{1, 2}, {0xff}}},
	BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 9, OfflineDirs: [][16]byte{}},
	UnregisterBrokerRecord{BrokerID: 3, BrokerEpoch: 12},
}

func TestMetadataRecordsRoundTrip(t *testing.T) {
	for _, rec := range everyRecord {
		p := AppendMetadataRecord(nil, rec)
		back, err := DecodeMetadataRecord(p)
		if err != nil {
			t.Fatalf("%v: %v", rec, err)
		}
		if !reflect.DeepEqual(back, rec) {
			t.Fatalf("%v came back as %v", rec, back)
		}
		for i := range p {
			if _, err := DecodeMetadataRecord(p[:i]); err == nil {
				t.Fatalf("%v cut to %d bytes decoded", rec, i)
			}
		}
	}
	batch := MetadataBatch{Epoch: -3, Records: everyRecord}
	p := AppendMetadataBatch([]byte("x"), batch)[1:]
	back, n, err := DecodeMetadataBatch(append(p, 0xff))
	if err != nil || n != len(p) || !reflect.DeepEqual(back, batch) {
		t.Fatalf("batch came back as %+v, %d of %d bytes, %v", back, n, len(p), err)
	}
	for i := range p {
		if _, _, err := DecodeMetadataBatch(p[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("batch cut to %d bytes: %v", i, err)
		}
	}
	damaged := bytes.Clone(p)
	damaged[len(damaged)-1] ^= 1
	if _, _, err := DecodeMetadataBatch(damaged); !errors.Is(err, logstore.ErrCorruption) {
		t.Fatalf("damaged batch: %v", err)
	}
}

// TestMetadataRecordsEncodingIsStable pins the bytes of a record: the
// encoding is durable, and a change to it must be a new record version.
func TestMetadataRecordsEncodingIsStable(t *testing.T) {
	id := TopicID{0xab}
	for _, c := range []struct {
		rec  MetadataRecord
		want []byte
	}{
		{PartitionRecord{TopicID: id, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
			[]byte{3, 0, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 0, 0}},
		// Version 1 only when a reassignment is under way.
		{PartitionRecord{TopicID: id, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{1}, RemovingReplicas: []int32{}},
			[]byte{3, 1, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 0, 0, 2, 2, 1}},
		{PartitionChangeRecord{TopicID: id, Leader: NoLeaderChange, ISR: []int32{2}},
			[]byte{5, 0, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 4, 0}},
		// Version 2 only with eligible leader replicas: an emptied ISR,
		// the ELR [2] and the last known ELR cleared.
		{PartitionChangeRecord{TopicID: id, Leader: -1, ISR: []int32{}, ELR: []int32{2}, LastKnownELR: []int32{}},
			[]byte{5, 2, 0xab, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 4, 1}},
		{RegisterBrokerRecord{BrokerID: 1, IncarnationID: IncarnationID{0xcd}, BrokerEpoch: 64,
			Endpoints: []BrokerEndpoint{{Name: "P", Host: "h", Port: 300}}, Rack: strp("r"), Fenced: true},
			[]byte{0, 0, 2, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 1, 1, 'P', 1, 'h', 0xac, 2, 0, 2, 'r', 1, 0}},
		{BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 5, Fenced: UnfenceBroker, InControlledShutdown: true},
			[]byte{17, 0, 2, 10, 0xff, 1}},
		// Version 1 only with offline directories: here none (an empty set,
		// not an unchanged one).
		{BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 5, OfflineDirs: [][16]byte{}},
			[]byte{17, 1, 2, 10, 0, 0, 1}},
		{UnregisterBrokerRecord{BrokerID: 1, BrokerEpoch: 5}, []byte{1, 0, 2, 10}},
	} {
		if got := AppendMetadataRecord(nil, c.rec); !bytes.Equal(got, c.want) {
			t.Errorf("%v encodes as %v, was %v", c.rec, got, c.want)
		}
	}
}

// TestMetadataRecordsRefuseDamage: a record of an unknown type or version,
// a bool that is neither 0 nor 1, or a version 1 record that version 0
// holds does not decode.
func TestMetadataRecordsRefuseDamage(t *testing.T) {
	for name, p := range map[string][]byte{
		"unknown type":                   {6, 0},
		"future version":                 {3, 3},
		"bool 2":                         {17, 0, 2, 10, 0, 2},
		"needless v1 of a broker change": {17, 1, 2, 10, 0, 0, 0},
		"needless v1":                    append([]byte{5, 1}, append(AppendMetadataRecord(nil, PartitionChangeRecord{Leader: 1})[2:], 0, 0)...),
		"needless v2":                    append([]byte{5, 2}, append(AppendMetadataRecord(nil, PartitionChangeRecord{Leader: 1})[2:], 0, 0, 0, 0)...),
		"port past 65535":                {0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'P', 1, 'h', 0x80, 0x80, 4, 0, 0, 0, 0},
	} {
		if rec, err := DecodeMetadataRecord(p); err == nil {
			t.Errorf("%s: decoded %v", name, rec)
		}
	}
}

func TestReplayMetadataLog(t *testing.T) {
	m := applied(t, NewMetadataImage(), topicRecords("a", TopicID{1}, 2, "retention.ms", "5")...)
	// An unregistered broker's epoch goes through the snapshot too.
	m = applied(t, m, RegisterBrokerRecord{BrokerID: 4, IncarnationID: IncarnationID{4}, BrokerEpoch: 3}, UnregisterBrokerRecord{BrokerID: 4, BrokerEpoch: 3})
	log := AppendMetadataBatch(nil, MetadataBatch{Snapshot: true, Epoch: m.Epoch, Records: m.SnapshotRecords()})
	delta := topicRecords("b", TopicID{2}, 1)
	log = AppendMetadataBatch(log, MetadataBatch{Epoch: m.Epoch, Records: delta})
	want := applied(t, m, delta...)
	whole := len(log)
	got, n, err := ReplayMetadataLog(log)
	if err != nil || n != whole {
		t.Fatalf("replay: %d of %d bytes, %v", n, whole, err)
	}
	assertSameImage(t, got, want)
	if e, ok := got.UnregisteredEpoch(4); !ok || e != 3 {
		t.Fatalf("replayed broker 4's epoch when unregistered %d (%v), want 3", e, ok)
	}

	// A torn last batch is cut off.
	torn := AppendMetadataBatch(bytes.Clone(log), MetadataBatch{Epoch: want.Epoch, Records: []MetadataRecord{RemoveTopicRecord{TopicID: TopicID{1}}}})
	got, n, err = ReplayMetadataLog(torn[:len(torn)-2])
	if err != nil || n != whole {
		t.Fatalf("torn replay: %d of %d bytes, %v", n, whole, err)
	}
	assertSameImage(t, got, want)

	// Batches that do not follow, or a log without its snapshot, are refused.
	for name, bad := range map[string][]byte{
		"gap":           AppendMetadataBatch(bytes.Clone(log), MetadataBatch{Epoch: want.Epoch + 1}),
		"no snapshot":   AppendMetadataBatch(nil, MetadataBatch{Epoch: 0, Records: delta}),
		"torn snapshot": log[:10],
		"bad record":    AppendMetadataBatch(bytes.Clone(log), MetadataBatch{Epoch: want.Epoch, Records: delta}),
	} {
		if _, _, err := ReplayMetadataLog(bad); err == nil {
			t.Errorf("%s: replayed", name)
		}
	}
}

// FuzzDecodeMetadataBatch: no input panics the decoder, and what decodes
// encodes to bytes that decode to the same batch (a varint may take more
// bytes than needed, so the bytes themselves can differ).
func FuzzDecodeMetadataBatch(f *testing.F) {
	f.Add(AppendMetadataBatch(nil, MetadataBatch{Epoch: 4, Records: everyRecord}))
	f.Add(AppendMetadataBatch(nil, MetadataBatch{Snapshot: true}))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, n, err := DecodeMetadataBatch(p)
		if err != nil {
			return
		}
		again, m, err := DecodeMetadataBatch(AppendMetadataBatch(nil, b))
		if err != nil || !reflect.DeepEqual(again, b) || m > n {
			t.Fatalf("%x decodes to %+v, which comes back as %+v (%v)", p[:n], b, again, err)
		}
	})
}

// FuzzDecodeMetadataRecord feeds raw records, past the batch checksum.
func FuzzDecodeMetadataRecord(f *testing.F) {
	for _, rec := range everyRecord {
		f.Add(AppendMetadataRecord(nil, rec))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		rec, err := DecodeMetadataRecord(p)
		if err != nil {
			return
		}
		again, err := DecodeMetadataRecord(AppendMetadataRecord(nil, rec))
		if err != nil || !reflect.DeepEqual(again, rec) {
			t.Fatalf("%x decodes to %v, which comes back as %v (%v)", p, rec, again, err)
		}
	})
}

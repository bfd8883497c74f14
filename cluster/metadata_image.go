package cluster

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// TopicID is a topic's UUID (Metadata v10+, Fetch v13+), stable for the
// topic's life and never reused.
type TopicID [16]byte

// String is the id in the canonical UUID form.
func (id TopicID) String() string {
	const hex = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(b[:])
}

// MarshalText encodes the id as a UUID string (for the durable snapshot).
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a UUID string written by MarshalText.
func (id *TopicID) UnmarshalText(p []byte) error {
	hexDigits := strings.ReplaceAll(string(p), "-", "")
	raw, err := hex.DecodeString(hexDigits)
	if err != nil || len(raw) != len(id) {
		return fmt.Errorf("topic id %q is not a UUID", p)
	}
	copy(id[:], raw)
	return nil
}

// TopicImage is one topic as the metadata image knows it.
type TopicImage struct {
	Name string
	ID   TopicID
	// Partitions are the topic's partitions, indexed by partition number.
	Partitions []PartitionImage
	// ReplicationFactor is the number of replicas of each partition.
	ReplicationFactor int16
	// Configs holds the topic's own configs (Kafka's names); absent keys take
	// the broker default.
	Configs map[string]string
}

// PartitionCount is the number of partitions.
func (t *TopicImage) PartitionCount() int32 { return int32(len(t.Partitions)) }

// PartitionImage is one partition as the metadata image knows it: where its
// replicas are and who leads them (Kafka's PartitionRecord).
type PartitionImage struct {
	Partition int32
	// Replicas are the brokers holding a replica, preferred leader first.
	Replicas []int32
	// ISR is the in-sync replica set.
	ISR []int32
	// Leader is the leading broker, -1 when there is none.
	Leader int32
	// LeaderEpoch rises with every leader change; batches appended by the
	// leader carry it.
	LeaderEpoch int32
	// PartitionEpoch rises with every change of the partition's record.
	PartitionEpoch int32
}

// HostedBy says whether broker holds a replica of the partition.
func (p PartitionImage) HostedBy(broker int32) bool {
	for _, r := range p.Replicas {
		if r == broker {
			return true
		}
	}
	return false
}

// SingleNodePartitions lays out count partitions from index from on, each
// with one replica on broker, which leads it at epoch 0.
func SingleNodePartitions(from, count int32, broker int32) []PartitionImage {
	out := make([]PartitionImage, 0, max(count-from, 0))
	for p := from; p < count; p++ {
		out = append(out, PartitionImage{Partition: p, Replicas: []int32{broker}, ISR: []int32{broker}, Leader: broker})
	}
	return out
}

// MetadataImage is an immutable view of the cluster's metadata: the result of
// applying every metadata record in order. Today a single node keeps it in a
// durable file of its own; with clustering the records come from the Raft log.
type MetadataImage struct {
	// Epoch counts the records applied.
	Epoch  int64
	topics map[string]*TopicImage
	byID   map[TopicID]string
	// brokerConfigs are the dynamic cluster-wide broker configs (set with
	// AlterConfigs on the default broker resource), by server.properties key.
	brokerConfigs map[string]string
}

// MetadataRecord is one change to the metadata image.
type MetadataRecord interface{ isMetadataRecord() }

// TopicCreated adds a topic.
type TopicCreated struct{ Topic TopicImage }

// PartitionsCreated adds partitions to a topic; they follow its existing
// ones, numbered in order.
type PartitionsCreated struct {
	Topic      string
	Partitions []PartitionImage
}

// TopicDeleted removes a topic.
type TopicDeleted struct{ Topic string }

// TopicConfigsSet replaces a topic's own configs.
type TopicConfigsSet struct {
	Topic   string
	Configs map[string]string
}

// BrokerConfigsSet replaces the dynamic cluster-wide broker configs.
type BrokerConfigsSet struct{ Configs map[string]string }

func (BrokerConfigsSet) isMetadataRecord()  {}
func (TopicCreated) isMetadataRecord()      {}
func (PartitionsCreated) isMetadataRecord() {}
func (TopicDeleted) isMetadataRecord()      {}
func (TopicConfigsSet) isMetadataRecord()   {}

// BrokerConfigs returns the dynamic cluster-wide broker configs; the map must
// not be changed.
func (m *MetadataImage) BrokerConfigs() map[string]string { return m.brokerConfigs }

// Topic returns the named topic.
func (m *MetadataImage) Topic(name string) (*TopicImage, bool) {
	t, ok := m.topics[name]
	return t, ok
}

// TopicByID returns the topic with the given id.
func (m *MetadataImage) TopicByID(id TopicID) (*TopicImage, bool) {
	name, ok := m.byID[id]
	if !ok {
		return nil, false
	}
	return m.topics[name], true
}

// TopicNames lists every topic, sorted.
func (m *MetadataImage) TopicNames() []string {
	names := make([]string, 0, len(m.topics))
	for n := range m.topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Apply returns the image with rec applied; m is unchanged. A record that does
// not fit the image (a duplicate topic, an unknown one, fewer partitions) is an
// error: the caller validated it first, so this is a bug or a corrupt log.
func (m *MetadataImage) Apply(rec MetadataRecord) (*MetadataImage, error) {
	next := &MetadataImage{Epoch: m.Epoch + 1, topics: make(map[string]*TopicImage, len(m.topics)+1), byID: make(map[TopicID]string, len(m.byID)+1), brokerConfigs: m.brokerConfigs}
	for k, v := range m.topics {
		next.topics[k] = v
	}
	for k, v := range m.byID {
		next.byID[k] = v
	}
	switch r := rec.(type) {
	case TopicCreated:
		if _, ok := next.topics[r.Topic.Name]; ok {
			return nil, fmt.Errorf("topic %q already exists", r.Topic.Name)
		}
		if _, ok := next.byID[r.Topic.ID]; ok {
			return nil, fmt.Errorf("topic id %s already in use", r.Topic.ID)
		}
		t := r.Topic
		if err := checkPartitionNumbers(t.Name, 0, t.Partitions); err != nil {
			return nil, err
		}
		t.Configs = copyConfigs(t.Configs)
		t.Partitions = append([]PartitionImage(nil), t.Partitions...)
		next.topics[t.Name] = &t
		next.byID[t.ID] = t.Name
	case PartitionsCreated:
		old, ok := next.topics[r.Topic]
		if !ok {
			return nil, fmt.Errorf("topic %q does not exist", r.Topic)
		}
		if len(r.Partitions) == 0 {
			return nil, fmt.Errorf("topic %q: no partitions to add", r.Topic)
		}
		if err := checkPartitionNumbers(r.Topic, int32(len(old.Partitions)), r.Partitions); err != nil {
			return nil, err
		}
		t := *old
		t.Partitions = append(append(make([]PartitionImage, 0, len(old.Partitions)+len(r.Partitions)), old.Partitions...), r.Partitions...)
		next.topics[r.Topic] = &t
	case TopicDeleted:
		old, ok := next.topics[r.Topic]
		if !ok {
			return nil, fmt.Errorf("topic %q does not exist", r.Topic)
		}
		delete(next.topics, r.Topic)
		delete(next.byID, old.ID)
	case BrokerConfigsSet:
		next.brokerConfigs = copyConfigs(r.Configs)
	case TopicConfigsSet:
		old, ok := next.topics[r.Topic]
		if !ok {
			return nil, fmt.Errorf("topic %q does not exist", r.Topic)
		}
		t := *old
		t.Configs = copyConfigs(r.Configs)
		next.topics[r.Topic] = &t
	default:
		return nil, fmt.Errorf("unknown metadata record %T", rec)
	}
	return next, nil
}

// checkPartitionNumbers checks that parts are numbered from on in order.
func checkPartitionNumbers(topic string, from int32, parts []PartitionImage) error {
	for i, p := range parts {
		if p.Partition != from+int32(i) {
			return fmt.Errorf("topic %q: partition %d listed where %d belongs", topic, p.Partition, from+int32(i))
		}
	}
	return nil
}

func copyConfigs(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// imageSnapshot is the durable form of a MetadataImage.
type imageSnapshot struct {
	Version       int               `json:"version"`
	Epoch         int64             `json:"epoch"`
	Topics        []TopicImage      `json:"topics"`
	BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
}

// imageSnapshotVersion 2 lists each topic's partitions; version 1 had a
// partition count only (a single node, which held and led every partition).
const imageSnapshotVersion = 2

// topicSnapshotV1 is a topic in a version 1 snapshot.
type topicSnapshotV1 struct {
	Name              string            `json:"Name"`
	ID                TopicID           `json:"ID"`
	Partitions        int32             `json:"Partitions"`
	ReplicationFactor int16             `json:"ReplicationFactor"`
	Configs           map[string]string `json:"Configs"`
}

// MarshalSnapshot encodes the image for a durable file.
func (m *MetadataImage) MarshalSnapshot() ([]byte, error) {
	s := imageSnapshot{Version: imageSnapshotVersion, Epoch: m.Epoch, BrokerConfigs: m.brokerConfigs}
	for _, n := range m.TopicNames() {
		s.Topics = append(s.Topics, *m.topics[n])
	}
	return json.MarshalIndent(s, "", "  ")
}

// UnmarshalMetadataSnapshot decodes a snapshot written by MarshalSnapshot. A
// version 1 snapshot (a single node's, with partition counts only) is read as
// every partition held and led by v1NodeID at leader epoch 0.
func UnmarshalMetadataSnapshot(p []byte, v1NodeID int32) (*MetadataImage, error) {
	var s imageSnapshot
	if err := json.Unmarshal(p, &struct {
		Version *int `json:"version"`
	}{&s.Version}); err != nil {
		return nil, fmt.Errorf("decode metadata snapshot: %w", err)
	}
	switch s.Version {
	case imageSnapshotVersion:
		if err := json.Unmarshal(p, &s); err != nil {
			return nil, fmt.Errorf("decode metadata snapshot: %w", err)
		}
	case 1:
		var v1 struct {
			Epoch         int64             `json:"epoch"`
			Topics        []topicSnapshotV1 `json:"topics"`
			BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
		}
		if err := json.Unmarshal(p, &v1); err != nil {
			return nil, fmt.Errorf("decode metadata snapshot version 1: %w", err)
		}
		s.Epoch, s.BrokerConfigs = v1.Epoch, v1.BrokerConfigs
		for _, t := range v1.Topics {
			s.Topics = append(s.Topics, TopicImage{Name: t.Name, ID: t.ID, ReplicationFactor: t.ReplicationFactor,
				Configs: t.Configs, Partitions: SingleNodePartitions(0, t.Partitions, v1NodeID)})
		}
	default:
		return nil, fmt.Errorf("metadata snapshot version %d, this build reads %d and 1", s.Version, imageSnapshotVersion)
	}
	m := NewMetadataImage()
	for _, t := range s.Topics {
		next, err := m.Apply(TopicCreated{Topic: t})
		if err != nil {
			return nil, fmt.Errorf("metadata snapshot: %w", err)
		}
		m = next
	}
	if len(s.BrokerConfigs) > 0 {
		next, err := m.Apply(BrokerConfigsSet{Configs: s.BrokerConfigs})
		if err != nil {
			return nil, fmt.Errorf("metadata snapshot: %w", err)
		}
		m = next
	}
	m.Epoch = s.Epoch
	return m, nil
}

// NewMetadataImage is the empty image.
func NewMetadataImage() *MetadataImage {
	return &MetadataImage{topics: map[string]*TopicImage{}, byID: map[TopicID]string{}, brokerConfigs: map[string]string{}}
}

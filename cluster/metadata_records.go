package cluster

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// MetadataRecord is one change to the metadata image. The record types follow
// Kafka's KRaft metadata records (same names, same api keys in the encoding),
// so the controller's decisions are what a Raft log will carry once metadata
// is replicated.
type MetadataRecord interface {
	// apiKey is the record's type in the encoding.
	apiKey() uint16
	fmt.Stringer
}

// Api keys of the metadata records (Kafka's).
const (
	topicRecordKey           uint16 = 2
	partitionRecordKey       uint16 = 3
	configRecordKey          uint16 = 4
	partitionChangeRecordKey uint16 = 5
	removeTopicRecordKey     uint16 = 9
)

// TopicRecord creates a topic, with no partitions and no configs of its own;
// PartitionRecords and ConfigRecords follow it.
type TopicRecord struct {
	Name    string
	TopicID TopicID
}

// PartitionRecord creates a partition of a topic (the next one in number
// order) with its replicas and leader.
type PartitionRecord struct {
	TopicID   TopicID
	Partition int32
	// Replicas are the brokers holding a replica, preferred leader first.
	Replicas []int32
	// ISR is the in-sync replica set.
	ISR []int32
	// Leader is the leading broker, -1 when none.
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// NoLeaderChange in PartitionChangeRecord.Leader keeps the leader.
const NoLeaderChange int32 = -2

// PartitionChangeRecord changes a partition: its leader (the leader epoch
// rises), its ISR or its replicas. Every change raises the partition epoch.
type PartitionChangeRecord struct {
	TopicID   TopicID
	Partition int32
	// Leader is the new leader (-1: none), or NoLeaderChange.
	Leader int32
	// ISR and Replicas are the new sets; nil keeps the current one.
	ISR      []int32
	Replicas []int32
}

// RemoveTopicRecord deletes a topic, its partitions and its configs.
type RemoveTopicRecord struct{ TopicID TopicID }

// ConfigRecord sets one config of a resource; a nil Value deletes it (the
// resource falls back to its default). Resources are topics (by name) and
// brokers: ResourceName "" is the cluster-wide broker default.
type ConfigRecord struct {
	ResourceType kmsg.ConfigResourceType
	ResourceName string
	Name         string
	Value        *string
}

func (TopicRecord) apiKey() uint16           { return topicRecordKey }
func (PartitionRecord) apiKey() uint16       { return partitionRecordKey }
func (ConfigRecord) apiKey() uint16          { return configRecordKey }
func (PartitionChangeRecord) apiKey() uint16 { return partitionChangeRecordKey }
func (RemoveTopicRecord) apiKey() uint16     { return removeTopicRecordKey }

// String describes the record for logs and test scripts.
func (r TopicRecord) String() string {
	return fmt.Sprintf("TopicRecord name=%s id=%s", r.Name, r.TopicID)
}

// String describes the record for logs and test scripts.
func (r PartitionRecord) String() string {
	return fmt.Sprintf("PartitionRecord id=%s partition=%d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d",
		r.TopicID, r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch)
}

// String describes the record for logs and test scripts.
func (r PartitionChangeRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "PartitionChangeRecord id=%s partition=%d", r.TopicID, r.Partition)
	if r.Leader != NoLeaderChange {
		fmt.Fprintf(&b, " leader=%d", r.Leader)
	}
	if r.ISR != nil {
		fmt.Fprintf(&b, " isr=%v", r.ISR)
	}
	if r.Replicas != nil {
		fmt.Fprintf(&b, " replicas=%v", r.Replicas)
	}
	return b.String()
}

// String describes the record for logs and test scripts.
func (r RemoveTopicRecord) String() string { return fmt.Sprintf("RemoveTopicRecord id=%s", r.TopicID) }

// String describes the record for logs and test scripts.
func (r ConfigRecord) String() string {
	value := "<delete>"
	if r.Value != nil {
		value = fmt.Sprintf("%q", *r.Value)
	}
	return fmt.Sprintf("ConfigRecord %s %q %s=%s", configResourceName(r.ResourceType), r.ResourceName, r.Name, value)
}

func configResourceName(t kmsg.ConfigResourceType) string {
	switch t {
	case kmsg.ConfigResourceTypeTopic:
		return "topic"
	case kmsg.ConfigResourceTypeBroker:
		return "broker"
	}
	return fmt.Sprintf("resource(%d)", t)
}

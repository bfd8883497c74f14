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
	registerBrokerRecordKey           uint16 = 0
	unregisterBrokerRecordKey         uint16 = 1
	topicRecordKey                    uint16 = 2
	partitionRecordKey                uint16 = 3
	configRecordKey                   uint16 = 4
	partitionChangeRecordKey          uint16 = 5
	removeTopicRecordKey              uint16 = 9
	brokerRegistrationChangeRecordKey uint16 = 17
	// clusterIDRecordKey is gregor's own: Kafka keeps the cluster id in
	// meta.properties only, written by its storage tool before the first
	// start; a gregor cluster that forms by itself commits it instead.
	clusterIDRecordKey uint16 = 1000
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
	// AddingReplicas and RemovingReplicas are the replicas a reassignment
	// adds and removes (both in Replicas); empty when none is under way.
	AddingReplicas   []int32
	RemovingReplicas []int32
	// ELR and LastKnownELR are the eligible leader replicas and the last
	// known ones (KIP-966); nil when there are none.
	ELR          []int32
	LastKnownELR []int32
}

// NoLeaderChange in PartitionChangeRecord.Leader keeps the leader.
const NoLeaderChange int32 = -2

// PartitionChangeRecord changes a partition: its leader, its ISR, its
// replicas or the reassignment under way. Every change raises the partition
// epoch; a Leader other than NoLeaderChange raises the leader epoch too,
// even when it names the current leader (as Kafka's does: the controller
// sets it to bump the epoch when a reassignment removes replicas).
type PartitionChangeRecord struct {
	TopicID   TopicID
	Partition int32
	// Leader is the new leader (-1: none), or NoLeaderChange.
	Leader int32
	// ISR, Replicas, AddingReplicas, RemovingReplicas, ELR and
	// LastKnownELR are the new sets; nil keeps the current one (an empty
	// AddingReplicas, RemovingReplicas, ELR or LastKnownELR clears it; an
	// empty ISR empties it, which only a cluster with eligible leader
	// replicas does).
	ISR              []int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
	ELR              []int32
	LastKnownELR     []int32
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

func (RegisterBrokerRecord) apiKey() uint16           { return registerBrokerRecordKey }
func (UnregisterBrokerRecord) apiKey() uint16         { return unregisterBrokerRecordKey }
func (BrokerRegistrationChangeRecord) apiKey() uint16 { return brokerRegistrationChangeRecordKey }
func (TopicRecord) apiKey() uint16                    { return topicRecordKey }
func (PartitionRecord) apiKey() uint16                { return partitionRecordKey }
func (ConfigRecord) apiKey() uint16                   { return configRecordKey }
func (PartitionChangeRecord) apiKey() uint16          { return partitionChangeRecordKey }
func (RemoveTopicRecord) apiKey() uint16              { return removeTopicRecordKey }
func (ClusterIDRecord) apiKey() uint16                { return clusterIDRecordKey }

// String describes the record for logs and test scripts.
func (r TopicRecord) String() string {
	return fmt.Sprintf("TopicRecord name=%s id=%s", r.Name, r.TopicID)
}

// String describes the record for logs and test scripts.
func (r PartitionRecord) String() string {
	s := fmt.Sprintf("PartitionRecord id=%s partition=%d replicas=%v isr=%v leader=%d leader_epoch=%d partition_epoch=%d",
		r.TopicID, r.Partition, r.Replicas, r.ISR, r.Leader, r.LeaderEpoch, r.PartitionEpoch)
	if len(r.AddingReplicas) > 0 || len(r.RemovingReplicas) > 0 {
		s += fmt.Sprintf(" adding=%v removing=%v", r.AddingReplicas, r.RemovingReplicas)
	}
	return s + elrString(r.ELR, r.LastKnownELR)
}

// elrString describes a partition's eligible leader replicas and last known
// ones, "" when it has neither.
func elrString(elr, lastKnown []int32) string {
	var s string
	if len(elr) > 0 {
		s += fmt.Sprintf(" elr=%v", elr)
	}
	if len(lastKnown) > 0 {
		s += fmt.Sprintf(" last_known_elr=%v", lastKnown)
	}
	return s
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
	if r.AddingReplicas != nil {
		fmt.Fprintf(&b, " adding=%v", r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		fmt.Fprintf(&b, " removing=%v", r.RemovingReplicas)
	}
	if r.ELR != nil {
		fmt.Fprintf(&b, " elr=%v", r.ELR)
	}
	if r.LastKnownELR != nil {
		fmt.Fprintf(&b, " last_known_elr=%v", r.LastKnownELR)
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

// IncarnationID identifies one run of a broker process (Kafka's incarnation
// id, a UUID drawn when the process starts): a broker that restarts
// registers under a new one.
type IncarnationID [16]byte

// String is the id in the canonical UUID form.
func (id IncarnationID) String() string { return TopicID(id).String() }

// BrokerEndpoint is one listener a broker serves (Kafka's BrokerEndpoint).
type BrokerEndpoint struct {
	// Name is the listener name, such as PLAINTEXT or CONTROLLER.
	Name string
	Host string
	Port uint16
	// SecurityProtocol is Kafka's security protocol id (0 PLAINTEXT).
	SecurityProtocol int16
}

// RegisterBrokerRecord registers a broker incarnation, replacing the broker
// id's previous registration. A new incarnation starts fenced; a record for
// the registered incarnation amends its listeners and rack and keeps its
// epoch and state.
type RegisterBrokerRecord struct {
	BrokerID      int32
	IncarnationID IncarnationID
	// BrokerEpoch is the metadata offset of the record that registered this
	// incarnation (see MetadataImage): it rises with every incarnation.
	BrokerEpoch int64
	// Endpoints are the broker's listeners, sorted by name.
	Endpoints []BrokerEndpoint
	// Rack is broker.rack; nil when the broker has none.
	Rack                 *string
	Fenced               bool
	InControlledShutdown bool
	// Features are the feature ranges the broker's build supports, by
	// name (none: a build before feature levels, at level 0 of every
	// feature).
	Features []FeatureRange
	// CleanFrom is the broker epoch whose data this incarnation holds
	// unchanged, when it registered after a clean shutdown (KIP-966); nil
	// otherwise. Until the incarnation is unfenced it touches nothing, so a
	// successor that names the same epoch stopped cleanly too.
	CleanFrom *int64
}

// BrokerFencingChange is how a BrokerRegistrationChangeRecord changes
// whether a broker is fenced (Kafka's values).
type BrokerFencingChange int8

// The fencing changes.
const (
	UnfenceBroker    BrokerFencingChange = -1
	FencingUnchanged BrokerFencingChange = 0
	FenceBroker      BrokerFencingChange = 1
)

// BrokerRegistrationChangeRecord fences or unfences a registered broker,
// moves it into controlled shutdown, or sets its offline replicas.
type BrokerRegistrationChangeRecord struct {
	BrokerID int32
	// BrokerEpoch must be the registered incarnation's.
	BrokerEpoch int64
	Fenced      BrokerFencingChange
	// InControlledShutdown true moves the broker into controlled shutdown
	// (false changes nothing); it leaves it only by registering again.
	InControlledShutdown bool
	// OfflineDirs, when not nil, are the directory ids
	// (PartitionDirectoryID) of the broker's offline replicas from now on,
	// sorted; empty: none. nil changes nothing. Written only once the
	// cluster finalized ReplicationVersionFeature 2 (version 1 of the
	// record, which older builds do not decode).
	OfflineDirs [][16]byte
}

// UnregisterBrokerRecord removes a broker's registration.
type UnregisterBrokerRecord struct {
	BrokerID    int32
	BrokerEpoch int64
}

// String describes the record for logs and test scripts.
func (r RegisterBrokerRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "RegisterBrokerRecord broker=%d incarnation=%s broker_epoch=%d", r.BrokerID, r.IncarnationID, r.BrokerEpoch)
	for _, e := range r.Endpoints {
		fmt.Fprintf(&b, " %s://%s:%d", e.Name, e.Host, e.Port)
		if e.SecurityProtocol != 0 {
			fmt.Fprintf(&b, "(protocol %d)", e.SecurityProtocol)
		}
	}
	if r.Rack != nil {
		fmt.Fprintf(&b, " rack=%q", *r.Rack)
	}
	fmt.Fprintf(&b, " fenced=%t", r.Fenced)
	if r.InControlledShutdown {
		b.WriteString(" in_controlled_shutdown=true")
	}
	for _, f := range r.Features {
		fmt.Fprintf(&b, " %s=%d-%d", f.Name, f.MinVersion, f.MaxVersion)
	}
	if r.CleanFrom != nil {
		fmt.Fprintf(&b, " clean_from=%d", *r.CleanFrom)
	}
	return b.String()
}

// String describes the record for logs and test scripts.
func (r BrokerRegistrationChangeRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "BrokerRegistrationChangeRecord broker=%d broker_epoch=%d", r.BrokerID, r.BrokerEpoch)
	switch r.Fenced {
	case FenceBroker:
		b.WriteString(" fence")
	case UnfenceBroker:
		b.WriteString(" unfence")
	case FencingUnchanged:
	default:
		fmt.Fprintf(&b, " fenced=%d", r.Fenced)
	}
	if r.InControlledShutdown {
		b.WriteString(" in_controlled_shutdown")
	}
	if r.OfflineDirs != nil {
		b.WriteString(" offline_dirs=[")
		for i, d := range r.OfflineDirs {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%x", d[:4])
		}
		b.WriteByte(']')
	}
	return b.String()
}

// String describes the record for logs and test scripts.
func (r UnregisterBrokerRecord) String() string {
	return fmt.Sprintf("UnregisterBrokerRecord broker=%d broker_epoch=%d", r.BrokerID, r.BrokerEpoch)
}

// ClusterIDRecord names the cluster, once: the first active controller of a
// new quorum commits it, and every node writes it to its meta.properties
// and refuses a data directory that names another cluster.
type ClusterIDRecord struct {
	ClusterID string
}

// String describes the record for logs and test scripts.
func (r ClusterIDRecord) String() string {
	return fmt.Sprintf("ClusterIDRecord cluster_id=%s", r.ClusterID)
}

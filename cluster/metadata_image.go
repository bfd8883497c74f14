package cluster

import (
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
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

// MarshalText encodes the id as a UUID string.
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

// TopicImage is one topic as the metadata image knows it. It is immutable:
// applying a record that changes a topic makes a new TopicImage.
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
	// AddingReplicas and RemovingReplicas are the replicas a reassignment
	// under way adds and removes; both are in Replicas. Nil when none is.
	AddingReplicas   []int32
	RemovingReplicas []int32
	// ELR are the eligible leader replicas (KIP-966): replicas outside the
	// ISR that hold every record up to the high watermark, because they
	// left the ISR while it was below min.insync.replicas (when the high
	// watermark does not advance). An unfenced one may lead when the ISR is
	// empty. LastKnownELR are replicas that were in the ISR or the ELR while
	// it was below min.insync.replicas and left it uncleanly: what an
	// operator may pick from for an unclean recovery. Once the partition
	// has no leader and an empty ISR, the first of them is its last known
	// leader (the leader it lost then), which may be in the ELR as well;
	// it alone leads when the ELR empties. Both nil when empty;
	// neither is kept unless the cluster finalized
	// eligible.leader.replicas.version 1.
	ELR          []int32
	LastKnownELR []int32
}

// Reassigning says a reassignment of the partition is under way.
func (p PartitionImage) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// HostedBy says whether broker holds a replica of the partition.
func (p PartitionImage) HostedBy(broker int32) bool { return slices.Contains(p.Replicas, broker) }

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
// applying every metadata record in order. Applying records makes a new
// image that shares with the old one everything the records did not change,
// so its cost follows the change, not the number of topics.
//
// Metadata offsets: the records of the metadata log are numbered from 0 in
// the order they apply, and a record's offset is the number of records
// before it. An image at Epoch E has applied the records at offsets 0 to
// E-1, so the next record applies at offset E (a batch's Epoch is the offset
// of its first record) and LastOffset is E-1. The controller knows where a
// batch it proposes will land (the Epoch of its working image), so it writes
// a new incarnation's broker epoch, that offset, into the RegisterBrokerRecord
// itself: every image, one rebuilt from a snapshot too, reads it from there.
type MetadataImage struct {
	// Epoch counts the records applied (a snapshot sets it): the offset of
	// the next record.
	Epoch  int64
	topics PersistentMap[string, *TopicImage]
	// brokers are the registered brokers by id.
	brokers PersistentMap[int32, *BrokerRegistration]
	// unregistered are the last registrations of brokers unregistered
	// since (UnregisterBrokerRecord), by id, until they register again.
	unregistered PersistentMap[int32, unregisteredBroker]
	// byID maps string(TopicID[:]) to the topic's name.
	byID PersistentMap[string, string]
	// metricNames maps a topic's name with '.' read as '_' to the name, so
	// a colliding name is found without a scan.
	metricNames PersistentMap[string, string]
	// brokerConfigs are the dynamic cluster-wide broker configs (set with
	// AlterConfigs on the default broker resource), by server.properties
	// key.
	brokerConfigs map[string]string
	// nodeConfigs are each broker's own dynamic configs (AlterConfigs on
	// the broker resource named by its id), by node id, then by
	// server.properties key; a broker without any has no entry. Never
	// changed in place.
	nodeConfigs map[int32]map[string]string
	// clusterID is the cluster's id, "" until a ClusterIDRecord named it.
	clusterID string
	// nextProducerID is the first producer id no block holds yet
	// (ProducerIdsRecord).
	nextProducerID int64
	// features are the finalized feature levels above 0, by name
	// (FeatureLevelRecord); never changed in place.
	features map[string]int16
}

// NewMetadataImage is the empty image.
func NewMetadataImage() *MetadataImage { return &MetadataImage{} }

// ClusterID is the cluster's id (ClusterIDRecord), "" until one is
// committed.
func (m *MetadataImage) ClusterID() string { return m.clusterID }

// BrokerConfigs returns the dynamic cluster-wide broker configs; the map must
// not be changed.
func (m *MetadataImage) BrokerConfigs() map[string]string { return m.brokerConfigs }

// NodeConfigs returns broker node's own dynamic configs (nil when it has
// none); the map must not be changed.
func (m *MetadataImage) NodeConfigs(node int32) map[string]string { return m.nodeConfigs[node] }

// ConfiguredNodes are the brokers that have dynamic configs of their own,
// in increasing id order.
func (m *MetadataImage) ConfiguredNodes() []int32 {
	return slices.Sorted(maps.Keys(m.nodeConfigs))
}

// Topic returns the named topic.
func (m *MetadataImage) Topic(name string) (*TopicImage, bool) { return m.topics.Get(name) }

// TopicByID returns the topic with the given id.
func (m *MetadataImage) TopicByID(id TopicID) (*TopicImage, bool) {
	name, ok := m.byID.Get(string(id[:]))
	if !ok {
		return nil, false
	}
	return m.topics.Get(name)
}

// TopicCount is the number of topics.
func (m *MetadataImage) TopicCount() int { return m.topics.Len() }

// Topics yields every topic in name order.
func (m *MetadataImage) Topics() iter.Seq[*TopicImage] {
	return func(yield func(*TopicImage) bool) {
		for _, t := range m.topics.All() {
			if !yield(t) {
				return
			}
		}
	}
}

// PartitionCounts maps every topic's name to its partition count.
func (m *MetadataImage) PartitionCounts() map[string]int32 {
	counts := make(map[string]int32, m.topics.Len())
	for t := range m.Topics() {
		counts[t.Name] = t.PartitionCount()
	}
	return counts
}

// TopicNames lists every topic, sorted.
func (m *MetadataImage) TopicNames() []string { return slices.Collect(m.topics.Keys()) }

// CollidingTopic returns an existing topic whose name is a different one
// that becomes the same when '.' is read as '_', as Kafka's metric names
// do; Kafka refuses the second.
func (m *MetadataImage) CollidingTopic(name string) (string, bool) {
	other, ok := m.metricNames.Get(metricName(name))
	if !ok || other == name {
		return "", false
	}
	return other, true
}

func metricName(topic string) string { return strings.ReplaceAll(topic, ".", "_") }

// Apply returns the image with recs applied in order; m is unchanged. A
// record that does not fit the image (a duplicate topic, an unknown one, a
// partition out of order) is an error and nothing is applied: the
// controller validated the records first, so this is a bug or a damaged log.
func (m *MetadataImage) Apply(recs ...MetadataRecord) (*MetadataImage, error) {
	d := imageDelta{next: *m, drafts: map[string]*topicDraft{}}
	for i, rec := range recs {
		if err := d.apply(rec); err != nil {
			return nil, fmt.Errorf("metadata record %d (%v): %w", i, rec, err)
		}
		d.next.Epoch++
	}
	return &d.next, nil
}

// imageDelta builds the next image. A topic the records touch is copied
// once (its draft) and then changed in place until the delta is done: a
// topic created with many partitions is not copied once per partition.
type imageDelta struct {
	next          MetadataImage
	drafts        map[string]*topicDraft
	brokerDrafted bool
	// nodesDrafted says the delta owns next.nodeConfigs and which of its
	// brokers' maps.
	nodesDrafted bool
	nodeDrafted  map[int32]bool
}

// topicDraft is a topic copied by this delta, and which of its parts the
// delta owns (may change in place).
type topicDraft struct {
	t                         *TopicImage
	ownPartitions, ownConfigs bool
}

func (d *imageDelta) apply(rec MetadataRecord) error {
	switch r := rec.(type) {
	case TopicRecord:
		return d.addTopic(r)
	case PartitionRecord:
		return d.addPartition(r)
	case PartitionChangeRecord:
		return d.changePartition(r)
	case RemoveTopicRecord:
		t, ok := d.next.TopicByID(r.TopicID)
		if !ok {
			return fmt.Errorf("topic id %s does not exist", r.TopicID)
		}
		d.next.topics = d.next.topics.Delete(t.Name)
		d.next.byID = d.next.byID.Delete(string(t.ID[:]))
		if owner, _ := d.next.metricNames.Get(metricName(t.Name)); owner == t.Name {
			d.next.metricNames = d.next.metricNames.Delete(metricName(t.Name))
		}
		delete(d.drafts, t.Name)
		return nil
	case ConfigRecord:
		return d.setConfig(r)
	case RegisterBrokerRecord:
		return d.registerBroker(r)
	case BrokerRegistrationChangeRecord:
		return d.changeBroker(r)
	case UnregisterBrokerRecord:
		return d.unregisterBroker(r)
	case ProducerIdsRecord:
		return d.applyProducerIds(r)
	case FeatureLevelRecord:
		return d.applyFeatureLevel(r)
	case ClusterIDRecord:
		switch {
		case r.ClusterID == "":
			return fmt.Errorf("empty cluster id")
		case d.next.clusterID != "" && d.next.clusterID != r.ClusterID:
			return fmt.Errorf("the cluster is %q already, not %q", d.next.clusterID, r.ClusterID)
		}
		d.next.clusterID = r.ClusterID
		return nil
	default:
		return fmt.Errorf("unknown metadata record %T", rec)
	}
}

func (d *imageDelta) addTopic(r TopicRecord) error {
	if r.Name == "" {
		return fmt.Errorf("topic with id %s has no name", r.TopicID)
	}
	if _, ok := d.next.topics.Get(r.Name); ok {
		return fmt.Errorf("topic %q already exists", r.Name)
	}
	if r.TopicID == (TopicID{}) {
		return fmt.Errorf("topic %q has the zero topic id", r.Name)
	}
	if _, ok := d.next.byID.Get(string(r.TopicID[:])); ok {
		return fmt.Errorf("topic id %s already in use", r.TopicID)
	}
	t := &TopicImage{Name: r.Name, ID: r.TopicID}
	d.next.topics = d.next.topics.Set(r.Name, t)
	d.next.byID = d.next.byID.Set(string(r.TopicID[:]), r.Name)
	if _, taken := d.next.metricNames.Get(metricName(r.Name)); !taken {
		d.next.metricNames = d.next.metricNames.Set(metricName(r.Name), r.Name)
	}
	d.drafts[r.Name] = &topicDraft{t: t, ownPartitions: true, ownConfigs: true}
	return nil
}

// draft returns the delta's own copy of a topic, copying it on first use.
func (d *imageDelta) draft(t *TopicImage) *topicDraft {
	if dr, ok := d.drafts[t.Name]; ok {
		return dr
	}
	cp := *t
	dr := &topicDraft{t: &cp}
	d.drafts[t.Name] = dr
	d.next.topics = d.next.topics.Set(t.Name, &cp)
	return dr
}

func (d *imageDelta) partitions(dr *topicDraft) []PartitionImage {
	if !dr.ownPartitions {
		dr.t.Partitions = slices.Clone(dr.t.Partitions)
		dr.ownPartitions = true
	}
	return dr.t.Partitions
}

func (d *imageDelta) addPartition(r PartitionRecord) error {
	t, ok := d.next.TopicByID(r.TopicID)
	if !ok {
		return fmt.Errorf("topic id %s does not exist", r.TopicID)
	}
	if r.Partition != t.PartitionCount() {
		return fmt.Errorf("topic %q: partition %d listed where %d belongs", t.Name, r.Partition, t.PartitionCount())
	}
	if len(r.Replicas) == 0 {
		return fmt.Errorf("topic %q: partition %d has no replicas", t.Name, r.Partition)
	}
	if err := checkReassignment(r.Replicas, r.AddingReplicas, r.RemovingReplicas); err != nil {
		return fmt.Errorf("topic %q: partition %d: %w", t.Name, r.Partition, err)
	}
	dr := d.draft(t)
	dr.t.Partitions = append(d.partitions(dr), PartitionImage{Partition: r.Partition,
		Replicas: slices.Clone(r.Replicas), ISR: slices.Clone(r.ISR), Leader: r.Leader,
		LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		AddingReplicas: nilIfEmpty(r.AddingReplicas), RemovingReplicas: nilIfEmpty(r.RemovingReplicas),
		ELR: nilIfEmpty(r.ELR), LastKnownELR: nilIfEmpty(r.LastKnownELR)})
	if r.Partition == 0 {
		dr.t.ReplicationFactor = int16(len(r.Replicas))
	}
	return nil
}

func (d *imageDelta) changePartition(r PartitionChangeRecord) error {
	t, ok := d.next.TopicByID(r.TopicID)
	if !ok {
		return fmt.Errorf("topic id %s does not exist", r.TopicID)
	}
	if r.Partition < 0 || r.Partition >= t.PartitionCount() {
		return fmt.Errorf("topic %q has no partition %d", t.Name, r.Partition)
	}
	next := t.Partitions[r.Partition]
	if r.Leader < -1 && r.Leader != NoLeaderChange {
		return fmt.Errorf("topic %q: partition %d: leader %d", t.Name, r.Partition, r.Leader)
	}
	if r.Leader != NoLeaderChange {
		next.Leader = r.Leader
		next.LeaderEpoch++
	}
	if r.ISR != nil {
		next.ISR = slices.Clone(r.ISR)
	}
	if r.Replicas != nil {
		if len(r.Replicas) == 0 {
			return fmt.Errorf("topic %q: partition %d would have no replicas", t.Name, r.Partition)
		}
		next.Replicas = slices.Clone(r.Replicas)
	}
	if r.AddingReplicas != nil {
		next.AddingReplicas = nilIfEmpty(r.AddingReplicas)
	}
	if r.RemovingReplicas != nil {
		next.RemovingReplicas = nilIfEmpty(r.RemovingReplicas)
	}
	if r.ELR != nil {
		next.ELR = nilIfEmpty(r.ELR)
	}
	if r.LastKnownELR != nil {
		next.LastKnownELR = nilIfEmpty(r.LastKnownELR)
	}
	if err := checkReassignment(next.Replicas, next.AddingReplicas, next.RemovingReplicas); err != nil {
		return fmt.Errorf("topic %q: partition %d: %w", t.Name, r.Partition, err)
	}
	next.PartitionEpoch++
	dr := d.draft(t)
	d.partitions(dr)[r.Partition] = next
	return nil
}

func (d *imageDelta) setConfig(r ConfigRecord) error {
	var configs *map[string]string
	switch r.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := d.next.topics.Get(r.ResourceName)
		if !ok {
			return fmt.Errorf("topic %q does not exist", r.ResourceName)
		}
		dr := d.draft(t)
		if !dr.ownConfigs {
			dr.t.Configs, dr.ownConfigs = maps.Clone(dr.t.Configs), true
		}
		configs = &dr.t.Configs
	case kmsg.ConfigResourceTypeBroker:
		if r.ResourceName != "" {
			return d.setNodeConfig(r)
		}
		if !d.brokerDrafted {
			d.next.brokerConfigs, d.brokerDrafted = maps.Clone(d.next.brokerConfigs), true
		}
		configs = &d.next.brokerConfigs
	default:
		return fmt.Errorf("config resource type %d is not kept", r.ResourceType)
	}
	if r.Value == nil {
		delete(*configs, r.Name)
		return nil
	}
	if *configs == nil {
		*configs = map[string]string{}
	}
	(*configs)[r.Name] = *r.Value
	return nil
}

// setNodeConfig applies a ConfigRecord of one broker's own configs (the
// broker resource named by its id). A broker left with none loses its
// entry.
func (d *imageDelta) setNodeConfig(r ConfigRecord) error {
	id, err := strconv.ParseInt(r.ResourceName, 10, 32)
	if err != nil || id < 0 {
		return fmt.Errorf("broker %q: not a node id", r.ResourceName)
	}
	node := int32(id)
	if !d.nodesDrafted {
		d.next.nodeConfigs, d.nodesDrafted, d.nodeDrafted = maps.Clone(d.next.nodeConfigs), true, map[int32]bool{}
		if d.next.nodeConfigs == nil {
			d.next.nodeConfigs = map[int32]map[string]string{}
		}
	}
	if !d.nodeDrafted[node] {
		d.next.nodeConfigs[node], d.nodeDrafted[node] = maps.Clone(d.next.nodeConfigs[node]), true
	}
	configs := d.next.nodeConfigs[node]
	if r.Value == nil {
		delete(configs, r.Name)
		if len(configs) == 0 {
			delete(d.next.nodeConfigs, node)
			delete(d.nodeDrafted, node)
		}
		return nil
	}
	if configs == nil {
		configs = map[string]string{}
		d.next.nodeConfigs[node] = configs
	}
	configs[r.Name] = *r.Value
	return nil
}

// SnapshotRecords are records that rebuild the image from empty: the
// cluster id, the finalized features, every registered broker (in id
// order), every unregistered one's last epoch (registered and unregistered
// at it), each topic (in name order) with its configs and partitions, then
// the cluster-wide broker configs and each broker's own (in id order).
func (m *MetadataImage) SnapshotRecords() []MetadataRecord {
	var out []MetadataRecord
	if m.clusterID != "" {
		out = append(out, ClusterIDRecord{ClusterID: m.clusterID})
	}
	out = append(out, m.featureRecords()...)
	out = append(out, m.brokerRecords()...)
	out = append(out, m.unregisteredRecords()...)
	for t := range m.Topics() {
		out = append(out, TopicRecord{Name: t.Name, TopicID: t.ID})
		out = append(out, configRecords(kmsg.ConfigResourceTypeTopic, t.Name, t.Configs)...)
		for _, p := range t.Partitions {
			out = append(out, p.record(t.ID))
		}
	}
	out = append(out, configRecords(kmsg.ConfigResourceTypeBroker, "", m.brokerConfigs)...)
	for _, node := range m.ConfiguredNodes() {
		out = append(out, configRecords(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(node)), m.nodeConfigs[node])...)
	}
	if m.nextProducerID > 0 {
		out = append(out, ProducerIdsRecord{BrokerID: -1, BrokerEpoch: -1, NextProducerID: m.nextProducerID})
	}
	return out
}

// record is the PartitionRecord that creates the partition as it is.
func (p PartitionImage) record(id TopicID) PartitionRecord {
	r := PartitionRecord{TopicID: id, Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR,
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch}
	if p.Reassigning() {
		r.AddingReplicas, r.RemovingReplicas = p.AddingReplicas, p.RemovingReplicas
	}
	r.ELR, r.LastKnownELR = p.ELR, p.LastKnownELR
	return r
}

// checkReassignment checks that the replicas a reassignment adds and
// removes are distinct replicas of the partition, none both.
func checkReassignment(replicas, adding, removing []int32) error {
	for _, b := range adding {
		if !slices.Contains(replicas, b) || slices.Contains(removing, b) {
			return fmt.Errorf("adding replica %d is not a replica only being added (replicas %v, removing %v)", b, replicas, removing)
		}
	}
	for _, b := range removing {
		if !slices.Contains(replicas, b) {
			return fmt.Errorf("removing replica %d is not a replica (replicas %v)", b, replicas)
		}
	}
	return nil
}

// nilIfEmpty copies s; an image keeps an empty reassignment set as nil.
func nilIfEmpty(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// configRecords sets every config of a resource, in key order.
func configRecords(typ kmsg.ConfigResourceType, name string, configs map[string]string) []MetadataRecord {
	var out []MetadataRecord
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		v := configs[k]
		out = append(out, ConfigRecord{ResourceType: typ, ResourceName: name, Name: k, Value: &v})
	}
	return out
}

// ImageFromSnapshot rebuilds an image from SnapshotRecords at the given
// epoch.
func ImageFromSnapshot(epoch int64, recs []MetadataRecord) (*MetadataImage, error) {
	m, err := NewMetadataImage().Apply(recs...)
	if err != nil {
		return nil, fmt.Errorf("metadata snapshot: %w", err)
	}
	m.Epoch = epoch
	return m, nil
}

package cluster

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// BrokerRegistration is one registered broker as the metadata image knows
// it (Kafka's BrokerRegistration): the incarnation that registered last, its
// listeners and rack, and whether it may lead and join ISRs. It is
// immutable.
type BrokerRegistration struct {
	ID            int32
	IncarnationID IncarnationID
	// Epoch is the broker epoch: the metadata offset of the record that
	// registered this incarnation.
	Epoch int64
	// Endpoints are the broker's listeners, sorted by name.
	Endpoints []BrokerEndpoint
	// Rack is broker.rack; nil when the broker has none.
	Rack *string
	// Fenced brokers neither lead nor join ISRs: a new incarnation until it
	// has caught up with the metadata, and a broker whose session lapsed.
	Fenced bool
	// InControlledShutdown says the broker asked to shut down: leadership
	// moves away from it and it joins no ISR.
	InControlledShutdown bool
	// Features are the feature ranges the broker's build supports
	// (metadata_features.go); none for a build before feature levels.
	Features []FeatureRange
	// OfflineDirs are the directory ids (PartitionDirectoryID) of the
	// broker's offline replicas, sorted, as its heartbeats last reported
	// them (recorded once ReplicationVersionFeature is 2); nil when none.
	OfflineDirs [][16]byte
	// CleanFrom is the broker epoch whose data the incarnation holds
	// unchanged (RegisterBrokerRecord.CleanFrom) until it is unfenced; nil
	// when it registered after an unclean shutdown, or since unfenced.
	CleanFrom *int64
}

// Endpoint returns the broker's listener of the given name.
func (b *BrokerRegistration) Endpoint(listener string) (BrokerEndpoint, bool) {
	i, ok := slices.BinarySearchFunc(b.Endpoints, listener, func(e BrokerEndpoint, name string) int { return strings.Compare(e.Name, name) })
	if !ok {
		return BrokerEndpoint{}, false
	}
	return b.Endpoints[i], true
}

// Active says the broker may lead partitions and join ISRs: it is neither
// fenced nor in controlled shutdown (Kafka's isActive).
func (b *BrokerRegistration) Active() bool { return !b.Fenced && !b.InControlledShutdown }

// RackName is the broker's rack, "" when it has none.
func (b *BrokerRegistration) RackName() string {
	if b.Rack == nil {
		return ""
	}
	return *b.Rack
}

// Broker returns a registered broker.
func (m *MetadataImage) Broker(id int32) (*BrokerRegistration, bool) { return m.brokers.Get(id) }

// Brokers yields every registered broker in id order.
func (m *MetadataImage) Brokers() iter.Seq[*BrokerRegistration] {
	return func(yield func(*BrokerRegistration) bool) {
		for _, b := range m.brokers.All() {
			if !yield(b) {
				return
			}
		}
	}
}

// ISRIneligibleBrokers lists, in id order, the brokers that may join no ISR
// (Kafka's isReplicaIsrEligible): the fenced ones and those in controlled
// shutdown. A leader tells its replica core (Replica.SetIneligibleReplicas),
// so that it stops waiting for them.
func (m *MetadataImage) ISRIneligibleBrokers() []int32 {
	var out []int32
	for b := range m.Brokers() {
		if !b.Active() {
			out = append(out, b.ID)
		}
	}
	return out
}

// ISRIneligibleReplicas lists, in id order, the brokers whose replicas of
// a partition may join no ISR: ISRIneligibleBrokers, and the brokers that
// report their replica of it offline (ReplicaOffline). A leader stops
// waiting for an offline replica as for a fenced broker's: its broker
// reported it, the controller took it out of the ISR, and without this the
// leader would go on waiting for it to join the ISR (it was caught up a
// moment before) until replica.lag.time.max.ms passed, stalling acks=all.
func (m *MetadataImage) ISRIneligibleReplicas(topic TopicID, partition int32) []int32 {
	out := m.ISRIneligibleBrokers()
	if !m.HasOfflineReplicas() {
		return out
	}
	for b := range m.Brokers() {
		if len(b.OfflineDirs) > 0 && !slices.Contains(out, b.ID) && m.ReplicaOffline(b.ID, topic, partition) {
			out = append(out, b.ID)
		}
	}
	slices.Sort(out)
	return out
}

// HasOfflineReplicas says some broker reports an offline replica.
func (m *MetadataImage) HasOfflineReplicas() bool {
	for b := range m.Brokers() {
		if len(b.OfflineDirs) > 0 {
			return true
		}
	}
	return false
}

// BrokerEpochs are the registered brokers' epochs by id: with
// ISRIneligibleBrokers, what a leader's replica core needs to ask to add a
// follower whose broker became eligible (Replica.SetIneligibleReplicas).
func (m *MetadataImage) BrokerEpochs() map[int32]int64 {
	out := make(map[int32]int64, m.brokers.Len())
	for b := range m.Brokers() {
		out[b.ID] = b.Epoch
	}
	return out
}

// BrokerCount is the number of registered brokers.
func (m *MetadataImage) BrokerCount() int { return m.brokers.Len() }

// LastOffset is the metadata offset of the last record the image applied
// (-1 for none): what a broker reports as CurrentMetadataOffset in its
// heartbeats, in Kafka's sense.
func (m *MetadataImage) LastOffset() int64 { return m.Epoch - 1 }

// registerBroker applies a RegisterBrokerRecord. A new incarnation's epoch
// must exceed the one it replaces (S10: broker epochs only rise); the
// registered incarnation keeps its epoch.
func (d *imageDelta) registerBroker(r RegisterBrokerRecord) error {
	if r.BrokerID < 0 {
		return fmt.Errorf("broker id %d is negative", r.BrokerID)
	}
	if r.BrokerEpoch < 0 {
		return fmt.Errorf("broker %d: broker epoch %d is negative", r.BrokerID, r.BrokerEpoch)
	}
	for i, e := range r.Endpoints {
		if i > 0 && r.Endpoints[i-1].Name >= e.Name {
			return fmt.Errorf("broker %d: endpoints not sorted by unique name at %q", r.BrokerID, e.Name)
		}
	}
	if old, ok := d.next.brokers.Get(r.BrokerID); ok {
		switch {
		case old.IncarnationID == r.IncarnationID && old.Epoch != r.BrokerEpoch:
			return fmt.Errorf("broker %d: incarnation %s re-registered with epoch %d, registered with %d", r.BrokerID, r.IncarnationID, r.BrokerEpoch, old.Epoch)
		case old.IncarnationID != r.IncarnationID && r.BrokerEpoch <= old.Epoch:
			return fmt.Errorf("broker %d: new incarnation with epoch %d, not above %d", r.BrokerID, r.BrokerEpoch, old.Epoch)
		}
	}
	var rack *string
	if r.Rack != nil {
		v := *r.Rack
		rack = &v
	}
	d.next.unregistered = d.next.unregistered.Delete(r.BrokerID)
	d.next.brokers = d.next.brokers.Set(r.BrokerID, &BrokerRegistration{
		ID: r.BrokerID, IncarnationID: r.IncarnationID, Epoch: r.BrokerEpoch,
		Endpoints: slices.Clone(r.Endpoints), Rack: rack,
		Fenced: r.Fenced, InControlledShutdown: r.InControlledShutdown, Features: slices.Clone(r.Features),
		CleanFrom: cloneInt64(r.CleanFrom),
	})
	return nil
}

// registeredBroker returns the registration a change names, which must be
// the current incarnation's.
func (d *imageDelta) registeredBroker(id int32, epoch int64) (*BrokerRegistration, error) {
	b, ok := d.next.brokers.Get(id)
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	if b.Epoch != epoch {
		return nil, fmt.Errorf("broker %d is registered with epoch %d, not %d", id, b.Epoch, epoch)
	}
	return b, nil
}

func (d *imageDelta) changeBroker(r BrokerRegistrationChangeRecord) error {
	b, err := d.registeredBroker(r.BrokerID, r.BrokerEpoch)
	if err != nil {
		return err
	}
	next := *b
	switch r.Fenced {
	case FenceBroker:
		next.Fenced = true
	case UnfenceBroker:
		next.Fenced, next.CleanFrom = false, nil
	case FencingUnchanged:
	default:
		return fmt.Errorf("broker %d: unknown fencing change %d", r.BrokerID, r.Fenced)
	}
	if r.InControlledShutdown {
		next.InControlledShutdown = true
	}
	if r.OfflineDirs != nil {
		next.OfflineDirs = nil
		if len(r.OfflineDirs) > 0 {
			next.OfflineDirs = slices.Clone(r.OfflineDirs)
		}
	}
	d.next.brokers = d.next.brokers.Set(r.BrokerID, &next)
	return nil
}

func (d *imageDelta) unregisterBroker(r UnregisterBrokerRecord) error {
	b, err := d.registeredBroker(r.BrokerID, r.BrokerEpoch)
	if err != nil {
		return err
	}
	d.next.brokers = d.next.brokers.Delete(r.BrokerID)
	d.next.unregistered = d.next.unregistered.Set(r.BrokerID, unregisteredBroker{epoch: r.BrokerEpoch, cleanFrom: cloneInt64(b.CleanFrom)})
	return nil
}

// unregisteredBroker is what the image keeps of a broker's last
// registration once it is unregistered: its epoch, and the epoch it
// registered clean from when it was never unfenced (CleanFrom).
type unregisteredBroker struct {
	epoch     int64
	cleanFrom *int64
}

// UnregisteredEpoch is the broker epoch broker id had when it was
// unregistered, if it was and has not registered again since: the epoch
// its next process's clean shutdown marker may name.
func (m *MetadataImage) UnregisteredEpoch(id int32) (int64, bool) {
	u, ok := m.unregistered.Get(id)
	return u.epoch, ok
}

// UnregisteredCleanFrom is the CleanFrom of broker id's registration when
// it was unregistered (nil when none, or when it is not unregistered):
// that incarnation registered after a clean shutdown and was never
// unfenced, so it may have stopped before it learned its own epoch and
// left the older one in its clean shutdown marker.
func (m *MetadataImage) UnregisteredCleanFrom(id int32) *int64 {
	u, _ := m.unregistered.Get(id)
	return cloneInt64(u.cleanFrom)
}

// unregisteredRecords register every unregistered broker at its last
// epoch, fenced (with the epoch it registered clean from), and unregister
// it, for a snapshot.
func (m *MetadataImage) unregisteredRecords() []MetadataRecord {
	var out []MetadataRecord
	for id, u := range m.unregistered.All() {
		out = append(out, RegisterBrokerRecord{BrokerID: id, BrokerEpoch: u.epoch, Fenced: true, CleanFrom: cloneInt64(u.cleanFrom)},
			UnregisterBrokerRecord{BrokerID: id, BrokerEpoch: u.epoch})
	}
	return out
}

// brokerRecords registers every broker as it is, for a snapshot.
func (m *MetadataImage) brokerRecords() []MetadataRecord {
	var out []MetadataRecord
	for b := range m.Brokers() {
		out = append(out, RegisterBrokerRecord{BrokerID: b.ID, IncarnationID: b.IncarnationID, BrokerEpoch: b.Epoch,
			Endpoints: b.Endpoints, Rack: b.Rack, Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown, Features: b.Features,
			CleanFrom: b.CleanFrom})
		if len(b.OfflineDirs) > 0 {
			out = append(out, BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, OfflineDirs: b.OfflineDirs})
		}
	}
	return out
}

// forgetOfflineDirs drops every broker's offline replicas: the cluster
// went below OfflineReplicasRecordedLevel, where they are no longer kept
// up to date, and a snapshot must not hold the records a build before
// that level does not decode.
func (d *imageDelta) forgetOfflineDirs() {
	var cleared []*BrokerRegistration
	for b := range d.next.Brokers() {
		if len(b.OfflineDirs) > 0 {
			next := *b
			next.OfflineDirs = nil
			cleared = append(cleared, &next)
		}
	}
	for _, b := range cleared {
		d.next.brokers = d.next.brokers.Set(b.ID, b)
	}
}

// ReplicaOffline says broker reports its replica of the partition offline
// (BrokerRegistration.OfflineDirs): Metadata lists it in the partition's
// offline replicas.
func (m *MetadataImage) ReplicaOffline(broker int32, topic TopicID, partition int32) bool {
	b, ok := m.Broker(broker)
	return ok && len(b.OfflineDirs) > 0 && slices.Contains(b.OfflineDirs, PartitionDirectoryID(topic, partition))
}

func cloneInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

package cluster

import (
	"fmt"
	"maps"
	"slices"
)

// Feature levels (KIP-584): a feature's finalized level is what the whole
// cluster has agreed to run at, a record of the metadata log
// (FeatureLevelRecord), so every node reads the same level from its image
// and clients read it from ApiVersions (FinalizedFeatures). What one build
// can run at is its supported range (SupportedFeatures); a level is only
// finalized within the range of every registered broker and of every
// controller-only voter of the quorum (Controller.VoterFeatures).
//
// A new cluster starts at the levels of ControllerConfig.BootstrapFeatures
// (committed with its cluster id, as Kafka's storage format writes them).
// A cluster whose log predates feature records has none: every feature is
// at level 0 until an operator raises it (UpdateFeatures), which the
// controller refuses while a registered broker or a controller-only voter
// does not support the level.
// That is the mixed-version story: a node of an older build neither
// decodes a FeatureLevelRecord nor serves what the level promises, so the
// level moves only once every node runs a build that supports it.

// TransactionVersionFeature is Kafka's transaction.version: level 2 is
// KIP-890 part 2 (Produce v12 adds its partition to the transaction,
// TxnOffsetCommit v5 its group's, EndTxn v5 bumps the epoch), which clients
// use only when the cluster finalized it.
const TransactionVersionFeature = "transaction.version"

// ReplicationVersionFeature is gregor's replication protocol level. Level
// 1: every broker's leaders answer a follower's Fetch v12+ with its
// diverging epoch (builds before it served Fetch v12+ and ignored the last
// fetched epoch), so followers may truncate on fetch
// (ReplicaOptions.TruncateOnFetch, Replica.SetTruncateOnFetch) instead of
// asking OffsetForLeaderEpoch first. It plays the part of Kafka's
// inter.broker.protocol.version 2.7 (KIP-595's truncation in Fetch): once
// finalized, a broker of an older build can no longer register, so no
// leader ignores a follower's last fetched epoch. A cluster formed by such
// a build stays at level 0 until an operator raises it (UpdateFeatures),
// once every node runs a build that supports it.
//
// Level 2 (OfflineReplicasRecordedLevel): the controller records the
// offline replicas each broker's heartbeats report in its registration
// (BrokerRegistrationChangeRecord version 1, BrokerRegistration.
// OfflineDirs), so every broker's Metadata lists them; a build before it
// does not decode that record, so, finalized, it keeps such a broker from
// registering.
const ReplicationVersionFeature = "gregor.replication.version"

// OfflineReplicasRecordedLevel is the ReplicationVersionFeature level at
// which brokers' offline replicas are metadata records.
const OfflineReplicasRecordedLevel int16 = 2

// EligibleLeaderReplicasFeature is Kafka's eligible.leader.replicas.version
// (KIP-966 part 1). At level 1 the controller keeps each partition's
// eligible leader replicas (PartitionImage.ELR): a replica that leaves the
// ISR while the ISR is below min.insync.replicas joins the ELR, the ISR may
// become empty, and an unfenced ELR member may lead when it is; a broker
// that registers after an unclean shutdown leaves every ELR. The records
// that carry the ELR (PartitionRecord and PartitionChangeRecord version 2)
// are ones a build before it does not decode, so, finalized, it keeps such
// a broker from registering. A new cluster finalizes it; one formed before
// stays at level 0 (the ISR never empties) until an operator raises it.
const EligibleLeaderReplicasFeature = "eligible.leader.replicas.version"

// TruncateOnFetchAllowed says whether a cluster at these replication
// version levels lets followers truncate on fetch.
func TruncateOnFetchAllowed(replicationVersion int16) bool { return replicationVersion >= 1 }

// FeatureRange is the levels of a feature a build supports.
type FeatureRange struct {
	Name                   string
	MinVersion, MaxVersion int16
}

// supportedFeatures is this build's range of every feature it knows, by
// name.
var supportedFeatures = []FeatureRange{
	{Name: TransactionVersionFeature, MinVersion: 0, MaxVersion: 2},
	{Name: ReplicationVersionFeature, MinVersion: 0, MaxVersion: 2},
	{Name: EligibleLeaderReplicasFeature, MinVersion: 0, MaxVersion: 1},
}

// SupportedFeatures lists the features this build supports, by name: what
// ApiVersions advertises and what a broker registers with.
func SupportedFeatures() []FeatureRange { return slices.Clone(supportedFeatures) }

// SupportedFeature is this build's range of the named feature.
func SupportedFeature(name string) (FeatureRange, bool) {
	i := slices.IndexFunc(supportedFeatures, func(f FeatureRange) bool { return f.Name == name })
	if i < 0 {
		return FeatureRange{}, false
	}
	return supportedFeatures[i], true
}

// DefaultBootstrapFeatures are the levels a new cluster starts at when its
// configuration names none: the highest this build supports, as a Kafka
// release formats a new cluster at its own levels.
func DefaultBootstrapFeatures() map[string]int16 {
	out := map[string]int16{}
	for _, f := range supportedFeatures {
		out[f.Name] = f.MaxVersion
	}
	return out
}

// featureLevelRecordKey is Kafka's FeatureLevelRecord api key.
const featureLevelRecordKey uint16 = 12

// FeatureLevelRecord finalizes the level of a feature for the whole
// cluster; level 0 removes it (a feature not finalized is at level 0).
type FeatureLevelRecord struct {
	Name         string
	FeatureLevel int16
}

func (FeatureLevelRecord) apiKey() uint16 { return featureLevelRecordKey }

// String describes the record for logs and test scripts.
func (r FeatureLevelRecord) String() string {
	return fmt.Sprintf("FeatureLevelRecord name=%s level=%d", r.Name, r.FeatureLevel)
}

// FinalizedFeature is a feature and the level the cluster finalized.
type FinalizedFeature struct {
	Name  string
	Level int16
}

// FeatureLevel is the finalized level of the named feature, 0 when none
// is.
func (m *MetadataImage) FeatureLevel(name string) int16 { return m.features[name] }

// FinalizedFeatures lists the features finalized above level 0, by name.
func (m *MetadataImage) FinalizedFeatures() []FinalizedFeature {
	out := make([]FinalizedFeature, 0, len(m.features))
	for _, name := range slices.Sorted(maps.Keys(m.features)) {
		out = append(out, FinalizedFeature{Name: name, Level: m.features[name]})
	}
	return out
}

// applyFeatureLevel sets a finalized level. Any name is kept, so an image
// of this build holds what a newer one finalized.
func (d *imageDelta) applyFeatureLevel(r FeatureLevelRecord) error {
	switch {
	case r.Name == "":
		return fmt.Errorf("feature with no name")
	case r.FeatureLevel < 0:
		return fmt.Errorf("feature %s at negative level %d", r.Name, r.FeatureLevel)
	}
	next := maps.Clone(d.next.features)
	if r.FeatureLevel == 0 {
		delete(next, r.Name)
	} else {
		if next == nil {
			next = map[string]int16{}
		}
		next[r.Name] = r.FeatureLevel
	}
	d.next.features = next
	if r.Name == ReplicationVersionFeature && r.FeatureLevel < OfflineReplicasRecordedLevel {
		d.forgetOfflineDirs()
	}
	return nil
}

// featureRecords are the records that finalize the image's features.
func (m *MetadataImage) featureRecords() []MetadataRecord {
	var out []MetadataRecord
	for _, f := range m.FinalizedFeatures() {
		out = append(out, FeatureLevelRecord{Name: f.Name, FeatureLevel: f.Level})
	}
	return out
}

// bootstrapFeatureRecords are the FeatureLevelRecords a new cluster starts
// with: the configured levels above 0 (DefaultBootstrapFeatures when none
// are configured), each within this build's range, by name.
func bootstrapFeatureRecords(levels map[string]int16) []MetadataRecord {
	if levels == nil {
		levels = DefaultBootstrapFeatures()
	}
	var out []MetadataRecord
	for _, name := range slices.Sorted(maps.Keys(levels)) {
		level := levels[name]
		f, ok := SupportedFeature(name)
		if !ok || level <= 0 {
			continue
		}
		out = append(out, FeatureLevelRecord{Name: name, FeatureLevel: min(max(level, f.MinVersion), f.MaxVersion)})
	}
	return out
}

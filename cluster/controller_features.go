package cluster

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Upgrade types of an UpdateFeatures v1+ (v0's AllowDowngrade is 2 or 1).
const (
	featureUpgrade         = 1
	featureSafeDowngrade   = 2
	featureUnsafeDowngrade = 3
)

// updateFeatures decides an UpdateFeatures (KIP-584): each feature moves
// to its new level (0 removes it) if this build, every registered broker
// and every controller-only voter of the quorum support that level; a lower level needs a downgrade upgrade type,
// a higher one the upgrade type. The request is all or nothing: the first
// refusal (INVALID_UPDATE_VERSION, or INVALID_REQUEST for a feature named
// twice) answers every feature and changes none. ValidateOnly (v1+) checks
// and changes nothing. Lowering eligible.leader.replicas.version to 0
// clears every partition's eligible leader replicas in the same commit
// (elrDisabledUpdates).
func (c *Controller) updateFeatures(r *kmsg.UpdateFeaturesRequest) decision {
	w := c.working
	var recs []MetadataRecord
	seen := map[string]bool{}
	for _, u := range r.FeatureUpdates {
		upgradeType := int8(u.UpgradeType)
		if r.Version == 0 {
			upgradeType = featureUpgrade
			if u.AllowDowngrade {
				upgradeType = featureSafeDowngrade
			}
		}
		level, current := u.MaxVersionLevel, w.FeatureLevel(u.Feature)
		var reason string
		code := kerr.InvalidUpdateVersion.Code
		switch {
		case seen[u.Feature]:
			code, reason = kerr.InvalidRequest.Code, "the feature is named twice"
		case upgradeType < featureUpgrade || upgradeType > featureUnsafeDowngrade:
			reason = fmt.Sprintf("upgrade type %d is unknown", upgradeType)
		case level < 0:
			reason = "a feature level cannot be below 0"
		case level < current && upgradeType == featureUpgrade:
			reason = fmt.Sprintf("a downgrade from level %d needs the safe or unsafe downgrade type", current)
		case level > current && upgradeType != featureUpgrade:
			reason = fmt.Sprintf("level %d is above level %d: not a downgrade", level, current)
		default:
			reason = c.featureUnsupported(w, u.Feature, level)
		}
		seen[u.Feature] = true
		if reason != "" {
			msg := fmt.Sprintf("%s level %d: %s", u.Feature, level, reason)
			return decision{response: updateFeaturesResponse(r, code, msg), reason: msg}
		}
		if level != current {
			recs = append(recs, FeatureLevelRecord{Name: u.Feature, FeatureLevel: level})
		}
	}
	if r.Version >= 1 && r.ValidateOnly {
		recs = nil
	}
	if elrEnabled(w) && len(recs) > 0 {
		if next := mustApply(w, recs); !elrEnabled(next) {
			recs = append(recs, c.elrDisabledUpdates(next)...)
		}
	}
	return decision{records: recs, response: updateFeaturesResponse(r, 0, "")}
}

// elrDisabledUpdates are the partition changes of a cluster that stopped
// keeping eligible leader replicas (w is at eligible.leader.replicas.version
// 0): every partition that has an ELR or a last known ELR is built again,
// which clears both (Kafka's PartitionChangeBuilder drops them once the
// feature is off; gregor does so for every partition at once, so none
// shows them after the downgrade), and one whose ISR had emptied gets its
// ISR back (partitionChange.populateELR), as a cluster without them never
// empties an ISR. A leaderless partition elects a leader if a member of
// that ISR is active.
func (c *Controller) elrDisabledUpdates(w *MetadataImage) []MetadataRecord {
	acceptable := func(b int32) bool { return c.activeBroker(w, b) }
	var out []MetadataRecord
	for t := range w.Topics() {
		for _, p := range t.Partitions {
			if len(p.ELR) == 0 && len(p.LastKnownELR) == 0 && len(p.ISR) > 0 {
				continue
			}
			if rec, ok := c.newPartitionChange(w, t, p, acceptable).build(); ok {
				out = append(out, rec)
			}
		}
	}
	return out
}

// featureUnsupported says why level of a feature cannot be finalized (""
// when it can): this build, a registered broker or a controller-only
// voter does not support it (voterUnsupported). A broker that registered
// no range for the feature (a build before it) supports level 0 only.
func (c *Controller) featureUnsupported(m *MetadataImage, name string, level int16) string {
	f, ok := SupportedFeature(name)
	switch {
	case !ok:
		return "the controller does not know the feature"
	case level != 0 && (level < f.MinVersion || level > f.MaxVersion):
		return fmt.Sprintf("the controller supports levels %d-%d", f.MinVersion, f.MaxVersion)
	}
	for b := range m.Brokers() {
		if !supportsLevel(b.Features, name, level) {
			return fmt.Sprintf("broker %d does not support it", b.ID)
		}
	}
	return c.voterUnsupported(m, name, level)
}

// voterUnsupported says which voter of the quorum keeps level of a feature
// from being finalized ("" when none): a controller-only node (a voter that
// is not a registered broker, whose registration would tell its ranges)
// must run the level too, as a node of an older build decodes neither the
// records nor the requests the level brings once it leads (Kafka's
// FeatureControlManager checks its controllers' registrations, KIP-919).
// gregor's voters register nothing: the active controller's shell asks
// each for ApiVersions on its CONTROLLER listener (VoterFeatures). A voter
// not heard from yet may not support it; one that told no range for the
// feature (a build before it, or before its CONTROLLER listener told
// features) supports level 0 only.
func (c *Controller) voterUnsupported(m *MetadataImage, name string, level int16) string {
	if level == 0 {
		return ""
	}
	for _, v := range c.cfg.QuorumVoters {
		if _, broker := m.Broker(v); broker || v == c.cfg.NodeID {
			continue
		}
		fs, told := c.voterFeatures[v]
		switch {
		case !told:
			return fmt.Sprintf("controller %d has not told the features it supports, and may not support it", v)
		case !supportsLevel(fs, name, level):
			return fmt.Sprintf("controller %d does not support it", v)
		}
	}
	return ""
}

// VoterFeatures tells the controller the feature ranges a voter of the
// quorum supports, as the ApiVersions of its CONTROLLER listener answered
// them (none: a build that tells none, which supports level 0 only of
// every feature). The shell asks the voters that are not registered
// brokers while this controller is active, again from time to time, so a
// voter that restarted on another build is heard again.
func (c *Controller) VoterFeatures(voter int32, fs []FeatureRange) {
	c.voterFeatures[voter] = slices.Clone(fs)
}

// VotersToAsk are the voters whose feature ranges the controller needs
// (VoterFeatures): the quorum's voters, but this node, that are not
// registered brokers in the image it works on.
func (c *Controller) VotersToAsk() []int32 {
	w := c.working
	if w == nil {
		w = NewMetadataImage()
	}
	var out []int32
	for _, v := range c.cfg.QuorumVoters {
		if _, broker := w.Broker(v); !broker && v != c.cfg.NodeID {
			out = append(out, v)
		}
	}
	return out
}

// supportsLevel says a broker with the feature ranges fs runs level of
// the named feature.
func supportsLevel(fs []FeatureRange, name string, level int16) bool {
	i := slices.IndexFunc(fs, func(f FeatureRange) bool { return f.Name == name })
	if i < 0 {
		return level == 0
	}
	return level == 0 || level >= fs[i].MinVersion && level <= fs[i].MaxVersion
}

// unsupportedFinalized says which finalized level a registering broker
// with the feature ranges fs does not support ("" when it supports all): a
// broker that cannot run what the cluster promises clients is refused.
func unsupportedFinalized(m *MetadataImage, fs []FeatureRange) string {
	for _, f := range m.FinalizedFeatures() {
		if !supportsLevel(fs, f.Name, f.Level) {
			return fmt.Sprintf("%s is finalized at level %d", f.Name, f.Level)
		}
	}
	return ""
}

// registrationFeatures are the feature ranges of a BrokerRegistration, by
// name.
func registrationFeatures(r *kmsg.BrokerRegistrationRequest) []FeatureRange {
	var out []FeatureRange
	for _, f := range r.Features {
		out = append(out, FeatureRange{Name: f.Name, MinVersion: f.MinSupportedVersion, MaxVersion: f.MaxSupportedVersion})
	}
	slices.SortFunc(out, func(a, b FeatureRange) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// updateFeaturesResponse answers every feature of r with code.
func updateFeaturesResponse(r *kmsg.UpdateFeaturesRequest, code int16, msg string) *kmsg.UpdateFeaturesResponse {
	resp := r.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = kmsg.StringPtr(msg)
	}
	if r.Version <= 1 {
		for _, u := range r.FeatureUpdates {
			res := kmsg.NewUpdateFeaturesResponseResult()
			res.Feature, res.ErrorCode, res.ErrorMessage = u.Feature, code, resp.ErrorMessage
			resp.Results = append(resp.Results, res)
		}
	}
	return resp
}

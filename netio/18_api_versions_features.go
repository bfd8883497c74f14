package netio

import "github.com/twmb/franz-go/pkg/kmsg"

// Features is what ApiVersions v3+ tells clients about feature levels
// (KIP-584): the levels this broker supports, and the levels the cluster
// finalized with the epoch of the metadata they were read from. Clients
// such as franz-go read FinalizedFeatures to decide, for instance, whether
// to run transactions under KIP-890 part 2 (transaction.version 2).
type Features struct {
	Supported []SupportedFeature
	Finalized []FinalizedFeature
	// FinalizedEpoch is the metadata offset the finalized levels were read
	// at; -1 when the broker knows none yet (clients then read no
	// finalized levels).
	FinalizedEpoch int64
}

// SupportedFeature is a feature's range of levels this broker supports.
type SupportedFeature struct {
	Name                   string
	MinVersion, MaxVersion int16
}

// FinalizedFeature is a feature's level the cluster finalized (above 0).
type FinalizedFeature struct {
	Name  string
	Level int16
}

// addFeatures fills an ApiVersions v3+ answer with the features source
// gives (nil: none). A finalized level is given as both its min and max
// level, as Kafka's brokers give it.
func addFeatures(resp *kmsg.ApiVersionsResponse, source func() *Features) {
	resp.FinalizedFeaturesEpoch = -1
	if source == nil || resp.ErrorCode != 0 || resp.Version < 3 {
		return
	}
	f := source()
	if f == nil {
		return
	}
	for _, s := range f.Supported {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = s.Name, s.MinVersion, s.MaxVersion
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	}
	resp.FinalizedFeaturesEpoch = f.FinalizedEpoch
	if f.FinalizedEpoch < 0 {
		return
	}
	for _, l := range f.Finalized {
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = l.Name, l.Level, l.Level
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
}

package netio

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAPIVersionsFeatures(t *testing.T) {
	f := &Features{Supported: []SupportedFeature{{Name: "transaction.version", MinVersion: 0, MaxVersion: 2}},
		Finalized: []FinalizedFeature{{Name: "transaction.version", Level: 2}}, FinalizedEpoch: 41}
	answer := func(version int16, source func() *Features) *kmsg.ApiVersionsResponse {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = version
		addFeatures(resp, source)
		return resp
	}
	resp := answer(3, func() *Features { return f })
	if len(resp.SupportedFeatures) != 1 || resp.SupportedFeatures[0].Name != "transaction.version" || resp.SupportedFeatures[0].MaxVersion != 2 {
		t.Fatalf("supported %+v", resp.SupportedFeatures)
	}
	if resp.FinalizedFeaturesEpoch != 41 || len(resp.FinalizedFeatures) != 1 ||
		resp.FinalizedFeatures[0].MinVersionLevel != 2 || resp.FinalizedFeatures[0].MaxVersionLevel != 2 {
		t.Fatalf("finalized %+v at epoch %d", resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
	}
	// Before v3 the fields do not exist; without a source, or before the
	// broker read any metadata, nothing is finalized.
	for _, resp := range []*kmsg.ApiVersionsResponse{answer(2, func() *Features { return f }), answer(3, nil),
		answer(3, func() *Features { return &Features{Supported: f.Supported, Finalized: f.Finalized, FinalizedEpoch: -1} })} {
		if resp.FinalizedFeaturesEpoch != -1 || len(resp.FinalizedFeatures) != 0 {
			t.Errorf("v%d: finalized %+v at epoch %d", resp.Version, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
		}
	}
	// The features survive the encoding a client reads.
	resp = answer(3, func() *Features { return f })
	back := kmsg.NewPtrApiVersionsResponse()
	back.Version = 3
	if err := back.ReadFrom(resp.AppendTo(nil)); err != nil || back.FinalizedFeaturesEpoch != 41 || len(back.FinalizedFeatures) != 1 {
		t.Fatalf("read back %+v, %v", back, err)
	}
}

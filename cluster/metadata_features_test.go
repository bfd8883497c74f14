package cluster

import (
	"reflect"
	"testing"
)

func TestFeatureLevelsInTheImage(t *testing.T) {
	m := NewMetadataImage()
	if m.FeatureLevel(TransactionVersionFeature) != 0 || len(m.FinalizedFeatures()) != 0 {
		t.Fatal("an empty image finalizes a feature")
	}
	m2 := applied(t, m, FeatureLevelRecord{Name: TransactionVersionFeature, FeatureLevel: 2},
		FeatureLevelRecord{Name: "group.version", FeatureLevel: 1})
	if got := m2.FeatureLevel(TransactionVersionFeature); got != 2 {
		t.Fatalf("transaction.version %d, want 2", got)
	}
	want := []FinalizedFeature{{"group.version", 1}, {TransactionVersionFeature, 2}}
	if got := m2.FinalizedFeatures(); !reflect.DeepEqual(got, want) {
		t.Fatalf("finalized %v, want %v", got, want)
	}
	// Level 0 removes a feature; the older image is unchanged.
	m3 := applied(t, m2, FeatureLevelRecord{Name: "group.version"})
	if got := m3.FinalizedFeatures(); !reflect.DeepEqual(got, want[1:]) {
		t.Fatalf("after removal %v", got)
	}
	if got := m2.FinalizedFeatures(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the older image changed: %v", got)
	}
	for _, bad := range []FeatureLevelRecord{{Name: "", FeatureLevel: 1}, {Name: "x", FeatureLevel: -1}} {
		if _, err := m.Apply(bad); err == nil {
			t.Errorf("%v was applied", bad)
		}
	}
	back, err := ImageFromSnapshot(m3.Epoch, m3.SnapshotRecords())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.FinalizedFeatures(), m3.FinalizedFeatures()) {
		t.Fatalf("snapshot rebuilt %v, want %v", back.FinalizedFeatures(), m3.FinalizedFeatures())
	}
}

func TestBootstrapFeatureRecords(t *testing.T) {
	for _, c := range []struct {
		levels map[string]int16
		want   []MetadataRecord
	}{
		{nil, []MetadataRecord{FeatureLevelRecord{Name: EligibleLeaderReplicasFeature, FeatureLevel: 1},
			FeatureLevelRecord{Name: ReplicationVersionFeature, FeatureLevel: 2}, FeatureLevelRecord{Name: TransactionVersionFeature, FeatureLevel: 2}}},
		{map[string]int16{TransactionVersionFeature: 0}, nil},
		{map[string]int16{TransactionVersionFeature: 1}, []MetadataRecord{FeatureLevelRecord{Name: TransactionVersionFeature, FeatureLevel: 1}}},
		{map[string]int16{TransactionVersionFeature: 9, "unknown.version": 1},
			[]MetadataRecord{FeatureLevelRecord{Name: TransactionVersionFeature, FeatureLevel: 2}}},
	} {
		if got := bootstrapFeatureRecords(c.levels); !reflect.DeepEqual(got, c.want) {
			t.Errorf("bootstrap %v: %v, want %v", c.levels, got, c.want)
		}
	}
	if f, ok := SupportedFeature(TransactionVersionFeature); !ok || f.MinVersion != 0 || f.MaxVersion != 2 {
		t.Errorf("transaction.version supported as %+v, %t", f, ok)
	}
}

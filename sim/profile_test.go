package sim

import (
	"strings"
	"testing"
)

// TestReplayCommandNamesTheProfile: a run of a named profile replays with
// it; a drawn one with none.
func TestReplayCommandNamesTheProfile(t *testing.T) {
	named := (&Report{Seed: 7, Nodes: 3, DurationMs: 60_000, ProfileName: "compaction"}).ReplayCommand()
	if want := "gregor sim run --seed 7 --nodes 3 --duration 60000ms --profile compaction"; named != want {
		t.Errorf("replay %q, want %q", named, want)
	}
	if drawn := (&Report{Seed: 7, Nodes: 3, DurationMs: 60_000}).ReplayCommand(); strings.Contains(drawn, "--profile") {
		t.Errorf("a drawn profile replays with %q", drawn)
	}
	for name, p := range NamedProfiles() {
		if p() == (Profile{}) {
			t.Errorf("profile %s is empty", name)
		}
	}
}

// TestMixedProfile: mixed plays every named profile (slowleader too) but
// recreate and retention, and drawn ones, each as it is under its own name
// (the metadata lag, the topic re-creation and the config changes on
// top aside: the latter two as the drawn profile of the seed draws them),
// and the drawn profile never turns the metadata lag on.
func TestMixedProfile(t *testing.T) {
	seen := map[string]int{}
	recreated, retained := 0, 0
	for seed := uint64(1); seed <= 2000; seed++ {
		p, pick := MixedProfile(seed)
		pick, retention := strings.CutSuffix(pick, "+configs")
		pick, recreate := strings.CutSuffix(pick, "+recreate-topic")
		base, lagged := strings.CutSuffix(pick, "+metadata-lag")
		seen[base]++
		want := DrawProfile(seed)
		if base != "drawn" {
			want = NamedProfiles()[base]()
		}
		if lagged {
			if want.MetadataLagEveryMs != 0 || p.MetadataLagEveryMs == 0 {
				t.Fatalf("seed %d: %s: lag on top of a profile with a lag of its own, or no lag", seed, pick)
			}
			p.MetadataLagEveryMs, p.MetadataLagForMs, p.MetadataLagMs, p.MetadataLagStarves = 0, 0, 0, false
		}
		if recreate {
			recreated++
			if base == "drawn" || want.RecreateTopicEveryMs != 0 || p.RecreateTopicEveryMs != DrawProfile(seed).RecreateTopicEveryMs {
				t.Fatalf("seed %d: %s: re-creation on top of %s, not as the seed's drawn profile draws it", seed, pick, base)
			}
			p.RecreateTopicEveryMs = 0
		}
		if retention {
			retained++
			d := DrawProfile(seed)
			if base == "drawn" || want.RetentionEveryMs != 0 || p.RetentionEveryMs != d.RetentionEveryMs || p.UncleanToggleEveryMs != d.UncleanToggleEveryMs {
				t.Fatalf("seed %d: %s: config changes on top of %s, not as the seed's drawn profile draws them", seed, pick, base)
			}
			p.RetentionEveryMs, p.UncleanToggleEveryMs = 0, 0
		}
		if p != want {
			t.Fatalf("seed %d: mixed's %s differs from the profile of that name:\n%s\n%s", seed, pick, p, want)
		}
		if d := DrawProfile(seed); d.MetadataLagEveryMs != 0 || d.SlowLeaderAppends {
			t.Fatalf("seed %d: the drawn profile turns on a metadata lag or slow leader appends", seed)
		}
		if q, ok := ProfileByName(MixedProfileName, seed); !ok || q != func() Profile { q, _ := MixedProfile(seed); return q }() {
			t.Fatalf("seed %d: ProfileByName(mixed) is not MixedProfile", seed)
		}
	}
	for _, name := range []string{"drawn", "slowleader", "metalag", "quiet"} {
		if seen[name] == 0 {
			t.Errorf("mixed never played %s in 2000 seeds: %v", name, seen)
		}
	}
	if len(seen) != len(NamedProfiles())-4 || seen["recreate"] != 0 || seen["retention"] != 0 || seen["brokerconfigs"] != 0 || seen["wipe"] != 0 ||
		seen["clusterdown"] != 0 {
		t.Errorf("mixed played %d profiles, want every named one but recreate, retention, brokerconfigs, wipe and clusterdown, and drawn ones: %v", len(seen), seen)
	}
	if retained < 200 || retained > 600 {
		t.Errorf("mixed changes configs on top of %d named picks of 2000 seeds, want about one in four", retained)
	}
	if recreated < 300 || recreated > 700 {
		t.Errorf("mixed re-creates topics on top of %d named picks of 2000 seeds, want about three in ten", recreated)
	}
}

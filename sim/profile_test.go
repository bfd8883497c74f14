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

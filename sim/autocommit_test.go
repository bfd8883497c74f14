package sim

import (
	"io"
	"testing"
)

// TestAutoCommitPlantFound: B21's scenario with the commit-returned plant
// (an auto-committing member commits the records its application still
// processes) fails the group's at-least-once check: the member crashes
// with them in its application, and the group's next member starts past
// them.
func TestAutoCommitPlantFound(t *testing.T) {
	script, err := ScenarioScript("auto-commit-crash-between-polls")
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := RunScenarioScript(script, Options{Seed: 1, Plant: PlantCommitReturned}, io.Discard)
	if !rep.Failed() {
		t.Fatalf("the commit-returned plant went unnoticed (fired %d times)", rep.Stats.PlantFired)
	}
	if v := rep.Violations[0]; v.Check != "Q3" {
		t.Fatalf("found by %s, not by the group's Q3: %s", v.Check, v)
	}
	t.Logf("found: %s", rep.Violations[0])
}

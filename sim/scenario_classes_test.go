package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestBugClasses keeps BugClasses true: every class of CORRECTNESS.md §3
// once, in order; every scenario it names exists; every scenario is
// named by a class or OtherScenarios; a scenario whose first line names a
// class ("# B2: ...") is listed under it.
func TestBugClasses(t *testing.T) {
	listed := map[string]bool{}
	for i, c := range BugClasses {
		if want := fmt.Sprintf("B%d", i+1); c.ID != want {
			t.Errorf("class %d is %s, want %s", i, c.ID, want)
		}
		for _, s := range c.Scenarios {
			if _, err := ScenarioScript(s); err != nil {
				t.Errorf("%s: %v", c.ID, err)
			}
			listed[s] = true
		}
	}
	if len(BugClasses) != 21 {
		t.Errorf("%d classes, want 21", len(BugClasses))
	}
	for _, s := range OtherScenarios {
		listed[s] = true
	}
	for _, name := range ScenarioNames() {
		if !listed[name] {
			t.Errorf("scenario %s is in no class (BugClasses) and not in OtherScenarios", name)
		}
		script, _ := ScenarioScript(name)
		first, _, _ := strings.Cut(script, "\n")
		id, _, ok := strings.Cut(strings.TrimPrefix(first, "# "), ":")
		if !ok || !strings.HasPrefix(id, "B") || strings.Contains(id, " ") {
			continue
		}
		if i := slices.IndexFunc(BugClasses, func(c BugClass) bool { return c.ID == id }); i < 0 || !slices.Contains(BugClasses[i].Scenarios, name) {
			t.Errorf("scenario %s names class %s on its first line, which does not list it", name, id)
		}
	}
}

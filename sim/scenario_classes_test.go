package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBugClasses keeps BugClasses true: every class of CORRECTNESS.md §3
// once, in order; every scenario it names exists; every scenario is
// named by a class or OtherScenarios; a scenario whose first line names a
// class ("# B2: ...") is listed under it; every suite of ClassSuites names
// a class and its script exists.
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
	for id, suite := range ClassSuites {
		if !slices.ContainsFunc(BugClasses, func(c BugClass) bool { return c.ID == id }) {
			t.Errorf("ClassSuites names %s, no class", id)
		}
		script, _, _ := strings.Cut(suite, " ")
		if _, err := os.Stat(filepath.Join("..", script)); err != nil {
			t.Errorf("%s: suite %s: %v", id, script, err)
		}
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

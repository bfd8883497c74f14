package sim

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the named scenarios in testdata/scenarios.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var sc *Scenario
		defer func() {
			if sc != nil {
				sc.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if sc == nil {
				sc = NewScenario(Options{Seed: 1})
			}
			var args []Arg
			for _, a := range d.CmdArgs {
				v := ""
				if len(a.Vals) > 0 {
					v = a.Vals[0]
				}
				args = append(args, Arg{Key: a.Key, Value: v})
			}
			return sc.Do(d.Cmd, args)
		})
	})
}

package groups

import (
	"fmt"
	"testing"
)

// A LeaseGate passes requests through while the lease holds; during a lapse
// it holds them and the core's ticks, releases them in order (a held tick
// last) once the lease holds again, and refuses those held HoldMs.
func TestLeaseGate(t *testing.T) {
	var g LeaseGate[string]
	show := func(o LeaseGateOutcome[string]) string {
		return fmt.Sprintf("release=%v refuse=%v tick=%v recheck=%v", o.Release, o.Refuse, o.Tick, o.Recheck)
	}
	steps := []struct {
		name string
		got  LeaseGateOutcome[string]
		want string
	}{
		{"a request under the lease", g.Admit("a", true, 0), "release=[a] refuse=[] tick=false recheck=false"},
		{"a tick under the lease", g.Tick(true, 0), "release=[] refuse=[] tick=true recheck=false"},
		{"a heartbeat in a lapse", g.Admit("hb1", false, 100), "release=[] refuse=[] tick=false recheck=true"},
		{"a due tick in the lapse", g.Tick(false, 500), "release=[] refuse=[] tick=false recheck=true"},
		{"another request", g.Admit("hb2", false, 1500), "release=[] refuse=[] tick=false recheck=true"},
		{"hb1 held 2 s", g.Check(false, 2100), "release=[] refuse=[hb1] tick=false recheck=true"},
		{"the lease holds again", g.Check(true, 2300), "release=[hb2] refuse=[] tick=true recheck=false"},
		{"nothing held", g.Check(true, 2400), "release=[] refuse=[] tick=false recheck=false"},
		{"a lapse with a tick alone", g.Tick(false, 3000), "release=[] refuse=[] tick=false recheck=true"},
		{"a request behind the held tick, lease back", g.Admit("c", true, 3100), "release=[c] refuse=[] tick=true recheck=false"},
	}
	for _, s := range steps {
		if got := show(s.got); got != s.want {
			t.Errorf("%s: %s, want %s", s.name, got, s.want)
		}
	}
	g.HoldMs = 50
	g.Admit("d", false, 4000)
	if o := g.Check(false, 4050); fmt.Sprint(o.Refuse) != "[d]" {
		t.Errorf("HoldMs 50: refused %v", o.Refuse)
	}
	g.Admit("e", false, 5000)
	g.Tick(false, 5000)
	if dropped := g.Drop(); fmt.Sprint(dropped) != "[e]" || g.Holding() {
		t.Errorf("dropped %v, holding a tick %v", dropped, g.Holding())
	}
}

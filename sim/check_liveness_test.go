package sim

import (
	"strings"
	"testing"
)

// TestGroupLiveness: after healing, a run waits until its groups are
// stable; a group that never becomes stable (here a member its
// coordinator does not know) fails the run with L1 within the bound.
func TestGroupLiveness(t *testing.T) {
	for _, classic := range []bool{false, true} {
		p := QuietProfile()
		p.GroupMembers, p.ClassicGroups, p.Partitions, p.CrashEveryMs, p.DownForMs = 3, classic, 3, 6000, 2000
		var timeline strings.Builder
		w := playWorld(Options{Seed: 2, DurationMs: 20_000, Profile: &p, Timeline: &timeline})
		if rep := w.report(); rep.Failed() {
			t.Fatalf("classic %t: %v", classic, rep.Violations[0])
		}
		if !strings.Contains(timeline.String(), "groups stable") {
			t.Fatalf("classic %t: the groups were never found stable:\n%s", classic, timeline.String())
		}
		ghost := w.newClient(groupClient)
		ghost.startGroupMember(w.groupMembers()[0].member.group, classic)
		ghost.stopped = true
		ghost.member.epoch, ghost.member.generation = 1, 1
		if why := w.groupsStable(w.groupMembers()); why == "" {
			t.Fatalf("classic %t: a member unknown to the coordinator, and the groups are stable", classic)
		}
		start := w.now
		if w.awaitGroupsStable(5_000) || len(w.violations) == 0 || w.violations[0].Check != "L1" || w.now-start < 5_000 {
			t.Fatalf("classic %t: awaited %s: violations %v", classic, fmtMs(w.now-start), w.violations)
		}
		t.Logf("classic %t: %s", classic, w.violations[0])
	}
}

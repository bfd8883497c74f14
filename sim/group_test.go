package sim

import (
	"testing"

	"gregor/groups"
)

// TestGroupCheckersCatchBadAnswers feeds the group checkers bad answers
// (CORRECTNESS.md H3).
func TestGroupCheckersCatchBadAnswers(t *testing.T) {
	tp := tpKey{"t", 0}
	for _, tc := range []struct {
		name string
		do   func(g *groupChecks, a, b *client)
		want string
	}{
		{"two owners in one epoch", func(g *groupChecks, a, b *client) {
			g.owns(a, 3, []tpKey{tp})
			g.owns(b, 3, []tpKey{tp})
		}, "S11"},
		{"owners in different epochs", func(g *groupChecks, a, b *client) {
			g.owns(a, 3, []tpKey{tp})
			g.owns(b, 4, []tpKey{tp})
		}, ""},
		{"two owners across a loss of the group's records", func(g *groupChecks, a, b *client) {
			g.owns(a, 1, []tpKey{tp})
			g.w.lossEra[offsetsKey("g")]++
			g.owns(b, 1, []tpKey{tp})
		}, ""},
		{"epoch goes back", func(g *groupChecks, a, _ *client) { g.epoch(a, 5, 4) }, "S11"},
		{"epoch after a rejoin", func(g *groupChecks, a, _ *client) { g.epoch(a, 0, 1) }, ""},
		{"commit goes back", func(g *groupChecks, a, _ *client) {
			g.committed(a, tp, 1, 10)
			g.committed(a, tp, 1, 9)
		}, "S11"},
		{"commit goes back after the partition was revoked", func(g *groupChecks, a, _ *client) {
			g.committed(a, tp, 1, 10)
			g.committed(a, tp, 2, 9)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			a, b := w.newClient(groupClient), w.newClient(groupClient)
			a.member = &groupMember{group: "g"}
			b.member = &groupMember{group: "g"}
			tc.do(w.groupChecks, a, b)
			got := ""
			if len(w.violations) > 0 {
				got = w.violations[0].Check
			}
			if got != tc.want {
				t.Errorf("checkers found %q (%v), want %q", got, w.violations, tc.want)
			}
		})
	}
}

// TestGroupsWorkload: a seed with group members (of either protocol) runs
// coordinators on the leaders of __consumer_offsets, which assign
// partitions (at growing epochs or generations, moving with leadership)
// and take offset commits.
func TestGroupsWorkload(t *testing.T) {
	t.Run("consumer", func(t *testing.T) { testGroupsWorkload(t, false) })
	t.Run("classic", func(t *testing.T) { testGroupsWorkload(t, true) })
}

func testGroupsWorkload(t *testing.T, classic bool) {
	p := QuietProfile()
	p.GroupMembers, p.ClassicGroups, p.Partitions, p.CrashEveryMs, p.DownForMs = 3, classic, 3, 8000, 3000
	w := playWorld(Options{Seed: 5, DurationMs: 40_000, Profile: &p})
	rep := w.report()
	if rep.Failed() {
		t.Fatalf("%v", rep.Violations[0])
	}
	owners := map[int32]bool{}
	maxEpoch := int32(0)
	for k, c := range w.groupChecks.owner {
		owners[c] = true
		maxEpoch = max(maxEpoch, k.epoch)
	}
	// A KIP-848 group's members rejoin after a failover (their
	// memberships are not durable); a classic group's are, and it may stay
	// in its first generation.
	wantEpoch := int32(2)
	if classic {
		wantEpoch = 1
	}
	if len(owners) < 2 || maxEpoch < wantEpoch || len(w.groupChecks.lastCommit) == 0 {
		t.Errorf("%d members owned partitions, up to epoch %d, %d commits", len(owners), maxEpoch, len(w.groupChecks.lastCommit))
	}
	if _, ok := w.node(1).image.Topic(groups.OffsetsTopic); !ok {
		t.Errorf("no %s topic", groups.OffsetsTopic)
	}
	t.Logf("%d members owned partitions, up to epoch %d, %d commits; %d crashes", len(owners), maxEpoch, len(w.groupChecks.lastCommit), rep.Stats.Crashes)
}

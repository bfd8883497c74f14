package sim

import "testing"

// The wipe profile starts nodes again with an empty data directory, one
// at a time (data_wipe.go): voters catch up their metadata log before
// they vote again, learners take a snapshot, every node registers as
// stopped uncleanly and fetches its partitions back into their ISRs, and
// no acknowledged acks=all write is lost where only the wiped replica
// lost it. With three nodes every wipe is a voter's; with five, learners
// are wiped too.
func TestWipedNodesCatchUp(t *testing.T) {
	for _, c := range []struct {
		seed  uint64
		nodes int
	}{{13100003, 3}, {13100001, 5}} {
		p := WipeProfile()
		rep := Run(Options{Seed: c.seed, Nodes: c.nodes, DurationMs: 60_000, Profile: &p, ProfileName: "wipe"})
		if rep.Failed() {
			t.Errorf("seed %d, %d nodes: %s\nreplay: %s", c.seed, c.nodes, rep.Violations[0], rep.ReplayCommand())
		}
		if rep.Stats.VoterDataWipes == 0 || c.nodes > 3 && rep.Stats.DataWipes == rep.Stats.VoterDataWipes {
			t.Errorf("seed %d, %d nodes: %d data wipes, %d of voters", c.seed, c.nodes, rep.Stats.DataWipes, rep.Stats.VoterDataWipes)
		}
	}
}

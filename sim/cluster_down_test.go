package sim

import "testing"

// The clusterdown profile stops every node at once, each a controlled
// shutdown (cluster_down.go), and starts them all again: the last
// brokers stop without anywhere to move their leadership, the quorum's
// leader hands off to a voter that is stopping too, and every guarantee
// holds across the cluster's restart. Seed 13400108 heals while the
// nodes stop: they must start again once stopped.
func TestClusterDownStopsEveryNode(t *testing.T) {
	for _, c := range []struct {
		seed  uint64
		nodes int
	}{{13400000, 3}, {13400001, 5}, {13400108, 3}} {
		p := ClusterDownProfile()
		rep := Run(Options{Seed: c.seed, Nodes: c.nodes, DurationMs: 60_000, Profile: &p, ProfileName: "clusterdown"})
		if rep.Failed() {
			t.Errorf("seed %d, %d nodes: %s\nreplay: %s", c.seed, c.nodes, rep.Violations[0], rep.ReplayCommand())
		}
		if rep.Stats.ClusterDowns == 0 || rep.Stats.ControlledShutdowns < int64(c.nodes)*rep.Stats.ClusterDowns {
			t.Errorf("seed %d, %d nodes: %d cluster downs, %d controlled shutdowns", c.seed, c.nodes, rep.Stats.ClusterDowns, rep.Stats.ControlledShutdowns)
		}
	}
}

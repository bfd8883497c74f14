package quorum

import (
	"testing"
	"testing/cryptotest"
)

func TestSingleVoterLeadsAtOnce(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	c := newTestCluster(t, clusterOptions{voters: []int32{0}, seed: 1})
	c.runUntil(100, "active", func() bool { return c.activeLeader() != nil })
	if _, err := c.propose(); err != nil {
		t.Fatal(err)
	}
	c.runUntil(100, "committed", func() bool { return c.node(0).count == 1 })
	t.Log(c.out)
}

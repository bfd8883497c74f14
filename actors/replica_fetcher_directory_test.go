package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetcherLeaders is the sorted list of leaders n's fetcher directory has a
// fetcher for.
func fetcherLeaders(n *Node) []int32 {
	var out []int32
	n.fetcherDir.m.Range(func(k, _ any) bool {
		out = append(out, k.(int32))
		return true
	})
	slices.Sort(out)
	return out
}

// The fetcher directory lists, on each node, the fetcher of every broker
// that leads a partition the node follows, while the records replicate (the
// followers' states take the shortcut to their fetchers), and forgets them
// when the topic is deleted and the fetchers stop.
func TestFetcherDirectoryFollowsTheFetchers(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "direct"); err != nil {
		t.Fatal(err)
	}
	leaders := c.waitForTopic("direct", 3)
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	acked := produceAcked(t, ctx, prod, "direct", "r", 90)
	c.waitReplicasIdentical(active, "direct", 3)
	for i := range 3 {
		var want []int32
		for _, l := range leaders {
			if l != int32(i+1) && !slices.Contains(want, l) {
				want = append(want, l)
			}
		}
		slices.Sort(want)
		n := c.node(i)
		waitFor(t, 10*time.Second, fmt.Sprintf("node %d lists fetchers of %v", i+1, want), func() bool {
			return slices.Equal(fetcherLeaders(n), want)
		})
	}
	checkAcked(t, c.node(active), "direct", acked)

	if _, err := c.admin(active).DeleteTopic(ctx, "direct"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		n := c.node(i)
		waitFor(t, 10*time.Second, fmt.Sprintf("node %d lists no fetcher", i+1), func() bool { return len(fetcherLeaders(n)) == 0 })
	}
}

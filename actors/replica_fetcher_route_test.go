package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// routeTestCluster is a three-node cluster with topic "routes" (3
// partitions, RF3, min.insync.replicas 2) replicating, and a client
// producing to it with acks=all.
func routeTestCluster(t *testing.T) (*testCluster, int, *kgo.Client) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "routes"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("routes", 3)
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	return c, active, prod
}

func routedStates(c *testCluster) int64 {
	var n int64
	for i := range 3 {
		n += c.node(i).fetcherDir.routed.Load()
	}
	return n
}

// A follower's fetch states that only move its fetch on (each replication
// round trip makes one) go straight to its leader's fetcher: the fetcher
// manager handles none of them, only those that change a route.
func TestFetchStatesBypassTheFetcherManager(t *testing.T) {
	c, active, prod := routeTestCluster(t)
	ctx := testContext(t, 60*time.Second)
	acked := produceAcked(t, ctx, prod, "routes", "warm", 9)
	c.waitReplicasIdentical(active, "routes", 3)
	before := routedStates(c)
	acked = append(acked, produceAcked(t, ctx, prod, "routes", "r", 60)...)
	c.waitReplicasIdentical(active, "routes", 3)
	if routed := routedStates(c) - before; routed != 0 {
		t.Errorf("the fetcher managers routed %d fetch states during 60 acks=all produces with no leader change, want 0", routed)
	}
	checkAcked(t, c.node(active), "routes", acked)
}

// A fetcher that stops on its own is replaced, and its partitions, asked
// for their states again, replicate through the new one.
func TestFailedFetcherIsReplacedWithItsPartitionsLatestStates(t *testing.T) {
	c, active, prod := routeTestCluster(t)
	ctx := testContext(t, 60*time.Second)
	acked := produceAcked(t, ctx, prod, "routes", "before", 30)
	c.waitReplicasIdentical(active, "routes", 3)
	for i := range 3 {
		n := c.node(i)
		for _, leader := range fetcherLeaders(n) {
			stopFetcherForAnother(t, n, leader)
		}
	}
	acked = append(acked, produceAcked(t, ctx, prod, "routes", "after", 30)...)
	c.waitReplicasIdentical(active, "routes", 3)
	checkAcked(t, c.node(active), "routes", acked)
}

// A fetcher that fails again soon after it replaced a failed one is
// replaced by one that waits before fetching, longer each time; its
// partitions still replicate once it starts.
func TestFailingFetcherIsReplacedAfterAPause(t *testing.T) {
	c, active, prod := routeTestCluster(t)
	ctx := testContext(t, 60*time.Second)
	acked := produceAcked(t, ctx, prod, "routes", "before", 9)
	c.waitReplicasIdentical(active, "routes", 3)
	n := c.node((active + 1) % 3)
	leader := fetcherLeaders(n)[0]
	var delays []int64
	for range 3 {
		stopFetcherForAnother(t, n, leader)
		delays = append(delays, n.fetcherDir.restartDelayMs.Load())
	}
	if delays[0] != 0 || delays[1] != 100 || delays[2] != 200 {
		t.Errorf("replacement pauses %v ms, want [0 100 200]", delays)
	}
	acked = append(acked, produceAcked(t, ctx, prod, "routes", "after", 30)...)
	c.waitReplicasIdentical(active, "routes", 3)
	checkAcked(t, c.node(active), "routes", acked)
}

// stopFetcherForAnother stops node n's fetcher of leader and waits until
// the fetcher manager has started another.
func stopFetcherForAnother(t *testing.T, n *Node, leader int32) {
	t.Helper()
	old := n.fetcherDir.lookup(leader)
	n.system.Root.Stop(old)
	waitFor(t, 10*time.Second, fmt.Sprintf("node %d runs a new fetcher of %d", n.cfg.NodeID, leader), func() bool {
		pid := n.fetcherDir.lookup(leader)
		return pid != nil && pid.Id != old.Id
	})
}

package actors

import (
	"slices"
	"testing"
	"time"
)

// A leader's partition actor that stops as on a corrupt or failing log
// (the supervisor's stop, not the replica manager's) takes only that
// replica offline: the node reports it in its heartbeats' OfflineLogDirs,
// the controller takes the node out of the ISR and elects another leader,
// acks=all writes go on there, the node goes on leading its other
// partition, and the replica, started again from its intact log on the
// record change, follows and rejoins the ISR.
func TestOfflineLeaderReplicaMovesLeadership(t *testing.T) {
	c := newTestCluster(t, 1, 2, fastReplication)
	c.startAll()
	c.createAssigned(0, "failing", []int32{1, 2, 3}, "2")
	c.createAssigned(0, "healthy", []int32{1, 2, 3}, "2")
	c.waitISR(0, "failing", 1, 2, 3)
	c.waitISR(0, "healthy", 1, 2, 3)
	ctx := testContext(t, 60*time.Second)
	prod := newClient(t, c.node(1))
	acked := produceAcked(t, ctx, prod, "failing", "before", 10)
	healthy := produceAcked(t, ctx, prod, "healthy", "before", 10)

	n := c.node(0)
	pid := n.routes.load().partition("failing", 0)
	if pid == nil {
		t.Fatal("node 1 hosts no actor for failing-0")
	}
	stopped := time.Now()
	n.system.Root.Stop(pid)
	var leader int32
	var isr []int32
	waitFor(t, 20*time.Second, "leadership of failing-0 away from node 1", func() bool {
		tp, ok := c.node(1).routes.load().image.Topic("failing")
		if !ok {
			return false
		}
		leader, isr = tp.Partitions[0].Leader, tp.Partitions[0].ISR
		return leader > 1
	})
	t.Logf("node %d leads failing-0 %v after its replica on node 1 went offline (ISR %v)", leader, time.Since(stopped), isr)
	if slices.Contains(isr, 1) {
		t.Fatalf("node 1 in the ISR %v with its replica offline", isr)
	}
	acked = append(acked, produceAcked(t, ctx, prod, "failing", "after", 10)...)
	healthy = append(healthy, produceAcked(t, ctx, prod, "healthy", "after", 10)...)
	if tp, _ := c.node(1).routes.load().image.Topic("healthy"); tp.Partitions[0].Leader != 1 {
		t.Fatalf("healthy-0 led by %d, want node 1 still", tp.Partitions[0].Leader)
	}
	c.waitISR(0, "failing", 1, 2, 3)
	checkAcked(t, c.node(2), "failing", acked)
	checkAcked(t, c.node(0), "healthy", healthy)
}

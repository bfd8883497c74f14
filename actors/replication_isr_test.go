package actors

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createAssigned creates a one-partition topic on the given replicas (the
// first is the preferred leader) with min.insync.replicas, through node i.
func (c *testCluster) createAssigned(i int, topic string, replicas []int32, minISR string) {
	c.t.Helper()
	cl := newClient(c.t, c.node(i))
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr(minISR)
	rt.Configs = append(rt.Configs, cfg)
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	resp, err := req.RequestWith(testContext(c.t, 20*time.Second), cl)
	if err != nil {
		c.t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		c.t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(code))
	}
	c.waitForTopic(topic, 1)
}

// waitISR waits until node observer's image shows partition 0 of topic
// with exactly the ISR want (in any order).
func (c *testCluster) waitISR(observer int, topic string, want ...int32) {
	c.t.Helper()
	slices.Sort(want)
	var got []int32
	waitFor(c.t, 30*time.Second, fmt.Sprintf("ISR of %s to be %v (is %v)", topic, want, got), func() bool {
		tp, ok := c.node(observer).routes.load().image.Topic(topic)
		if !ok {
			return false
		}
		got = slices.Sorted(slices.Values(tp.Partitions[0].ISR))
		return slices.Equal(got, want)
	})
}

// Replicas that stop leave the ISR and come back into it once they caught
// up; with min.insync.replicas=2 and both followers down, acks=all is
// refused NOT_ENOUGH_REPLICAS (nothing is appended) while acks=1 still
// works; clients produce through one node and consume through another.
// Node 1 is the only controller voter, so that stopping the brokers keeps
// the metadata quorum.
func TestReplicationISRShrinksAndExpands(t *testing.T) {
	c := newTestCluster(t, 1, 2, fastReplication)
	c.startAll()
	const topic = "isr"
	c.createAssigned(0, topic, []int32{1, 2, 3}, "2")
	c.waitISR(0, topic, 1, 2, 3)
	tp, _ := c.node(0).routes.load().image.Topic(topic)
	if tp.Partitions[0].Leader != 1 {
		t.Fatalf("leader %d, want the preferred replica 1", tp.Partitions[0].Leader)
	}
	ctx := testContext(t, 120*time.Second)
	prod := newClient(t, c.node(0))
	acked := produceAcked(t, ctx, prod, topic, "all-in", 20)

	// One follower down: it leaves the ISR; acks=all goes on with two.
	c.stop(2, false)
	c.waitISR(0, topic, 1, 2)
	acked = append(acked, produceAcked(t, ctx, prod, topic, "one-down", 20)...)

	// Both down: the ISR is the leader alone, below min.insync.replicas.
	c.stop(1, false)
	c.waitISR(0, topic, 1)
	if _, err := rawProduce(newClient(t, c.node(0)), topic, tp.ID, 0, "refused"); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	offset, err := rawProduce(newClient(t, c.node(0), kgo.RequiredAcks(kgo.LeaderAck())), topic, tp.ID, 0, "acks-1")
	if err != nil {
		t.Fatalf("acks=1 with the ISR below min.insync.replicas: %v", err)
	}
	acked = append(acked, ackedRecord{partition: 0, offset: offset, value: "acks-1"})

	// Back: both catch up and rejoin; acks=all works again.
	c.startAll()
	c.waitISR(0, topic, 1, 2, 3)
	acked = append(acked, produceAcked(t, ctx, prod, topic, "back", 20)...)
	c.waitReplicasIdentical(0, topic, 1)
	// Read through a node the records were not produced through.
	checkAcked(t, c.node(2), topic, acked)
}

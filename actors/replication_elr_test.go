package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// describePartition asks node observer for partition 0 of topic with
// DescribeTopicPartitions (KIP-966), as a client does.
func (c *testCluster) describePartition(observer int, topic string) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	c.t.Helper()
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = topic
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(c.t, 20*time.Second), newClient(c.t, c.node(observer)))
	if err != nil {
		c.t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("DescribeTopicPartitions of %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// waitPartition waits until node observer's image shows partition 0 of
// topic as want says, and returns it.
func (c *testCluster) waitPartition(observer int, topic, what string, want func(cluster.PartitionImage) bool) cluster.PartitionImage {
	c.t.Helper()
	var got cluster.PartitionImage
	waitFor(c.t, 30*time.Second, fmt.Sprintf("%s of %s (last seen %+v)", what, topic, &got), func() bool {
		tp, ok := c.node(observer).routes.load().image.Topic(topic)
		if !ok {
			return false
		}
		got = tp.Partitions[0]
		return want(got)
	})
	return got
}

// TestEligibleLeaderReplicaLeadsAfterLeaderKilled: a new cluster keeps
// eligible leader replicas (KIP-966). A partition on brokers 2 and 3 with
// min.insync.replicas 2 loses follower 3 (killed): the ISR, the leader
// alone, is below min.insync.replicas, so broker 3 joins the ELR. The
// leader is killed as well: the ISR empties, both are eligible, nobody
// leads. Broker 3 restarts on the same boot (nothing it wrote is lost), is
// still eligible, and leads from the ELR. DescribeTopicPartitions shows
// each step; no acknowledged record is lost once broker 2 is back.
func TestEligibleLeaderReplicaLeadsAfterLeaderKilled(t *testing.T) {
	c := newTestCluster(t, 1, 2, fastReplication)
	c.startAll()
	if level := c.node(0).routes.load().image.FeatureLevel(cluster.EligibleLeaderReplicasFeature); level != 1 {
		t.Fatalf("%s is at level %d on a new cluster, want 1", cluster.EligibleLeaderReplicasFeature, level)
	}
	const topic = "elr"
	c.createAssigned(0, topic, []int32{2, 3}, "2")
	c.waitISR(0, topic, 2, 3)
	ctx := testContext(t, 120*time.Second)
	acked := produceAcked(t, ctx, newClient(t, c.node(0)), topic, "both", 20)

	// Follower 3 is killed: the ISR falls below min.insync.replicas and
	// broker 3 becomes eligible.
	c.stop(2, false)
	c.waitPartition(0, topic, "ISR [2], ELR [3]", func(p cluster.PartitionImage) bool {
		return slices.Equal(p.ISR, []int32{2}) && slices.Equal(p.ELR, []int32{3})
	})
	if dp := c.describePartition(0, topic); dp.LeaderID != 2 || !slices.Equal(dp.ISR, []int32{2}) || !slices.Equal(dp.EligibleLeaderReplicas, []int32{3}) {
		t.Fatalf("described leader %d ISR %v ELR %v, want 2, [2], [3]", dp.LeaderID, dp.ISR, dp.EligibleLeaderReplicas)
	}

	// The leader is killed: the ISR empties (before KIP-966 it kept broker
	// 2) and nobody leads. Broker 2, the last known leader, is also first
	// in the last known ELR.
	c.stop(1, false)
	c.waitPartition(0, topic, "no leader, ISR [], ELR [2 3]", func(p cluster.PartitionImage) bool {
		return p.Leader == -1 && len(p.ISR) == 0 && slices.Equal(slices.Sorted(slices.Values(p.ELR)), []int32{2, 3})
	})
	dp := c.describePartition(0, topic)
	if dp.LeaderID != -1 || len(dp.ISR) != 0 || len(dp.EligibleLeaderReplicas) != 2 || !slices.Equal(dp.LastKnownELR, []int32{2}) {
		t.Fatalf("described leader %d ISR %v ELR %v last known ELR %v, want -1, [], [2 3], [2]", dp.LeaderID, dp.ISR, dp.EligibleLeaderReplicas, dp.LastKnownELR)
	}

	// Broker 3 comes back on the same boot: its registration names its
	// last broker epoch (its running marker), it stays eligible and leads.
	if err := c.tryStart(2); err != nil {
		t.Fatal(err)
	}
	c.waitPartition(0, topic, "leader 3, ISR [3], ELR [2]", func(p cluster.PartitionImage) bool {
		return p.Leader == 3 && slices.Equal(p.ISR, []int32{3}) && slices.Equal(p.ELR, []int32{2})
	})
	dp = c.describePartition(0, topic)
	if dp.ErrorCode != 0 || dp.LeaderID != 3 || !slices.Equal(dp.ISR, []int32{3}) || !slices.Equal(dp.EligibleLeaderReplicas, []int32{2}) {
		t.Fatalf("described %v leader %d ISR %v ELR %v, want leader 3, ISR [3], ELR [2]", kerr.ErrorForCode(dp.ErrorCode), dp.LeaderID, dp.ISR, dp.EligibleLeaderReplicas)
	}

	// Broker 2 comes back and rejoins: the ISR reaches min.insync.replicas,
	// the ELR is cleared, and every acknowledged record is there.
	if err := c.tryStart(1); err != nil {
		t.Fatal(err)
	}
	c.waitPartition(0, topic, "ISR [2 3], no ELR", func(p cluster.PartitionImage) bool {
		return len(p.ISR) == 2 && len(p.ELR) == 0 && len(p.LastKnownELR) == 0
	})
	acked = append(acked, produceAcked(t, ctx, newClient(t, c.node(0)), topic, "back", 10)...)
	checkAcked(t, c.node(0), topic, acked)
}

// TestEligibleLeaderReplicasDowngrade: an operator lowers
// eligible.leader.replicas.version to 0 with UpdateFeatures (kadm, as
// Kafka's kafka-features downgrade): the partition whose follower 3 was
// eligible shows no ELR in DescribeTopicPartitions, and from then on the
// controller runs without them: the leader killed, the ISR keeps it (it
// does not empty) and nobody else is made eligible.
func TestEligibleLeaderReplicasDowngrade(t *testing.T) {
	c := newTestCluster(t, 1, 2, fastReplication)
	c.startAll()
	const topic = "elr-down"
	c.createAssigned(0, topic, []int32{2, 3}, "2")
	c.waitISR(0, topic, 2, 3)
	c.stop(2, false)
	c.waitPartition(0, topic, "ISR [2], ELR [3]", func(p cluster.PartitionImage) bool {
		return slices.Equal(p.ISR, []int32{2}) && slices.Equal(p.ELR, []int32{3})
	})

	ctx := testContext(t, 60*time.Second)
	if err := updateFeature(ctx, kadm.NewClient(newClient(t, c.node(0))), cluster.EligibleLeaderReplicasFeature, 0, 2); err != nil {
		t.Fatalf("downgrading %s: %v", cluster.EligibleLeaderReplicasFeature, err)
	}
	c.waitPartition(0, topic, "ISR [2], no ELR", func(p cluster.PartitionImage) bool {
		return slices.Equal(p.ISR, []int32{2}) && len(p.ELR) == 0 && len(p.LastKnownELR) == 0
	})
	if level := c.node(0).routes.load().image.FeatureLevel(cluster.EligibleLeaderReplicasFeature); level != 0 {
		t.Fatalf("%s at level %d after the downgrade", cluster.EligibleLeaderReplicasFeature, level)
	}
	if dp := c.describePartition(0, topic); dp.LeaderID != 2 || !slices.Equal(dp.ISR, []int32{2}) || len(dp.EligibleLeaderReplicas) != 0 || len(dp.LastKnownELR) != 0 {
		t.Fatalf("described leader %d ISR %v ELR %v last known ELR %v, want 2, [2], [], []", dp.LeaderID, dp.ISR, dp.EligibleLeaderReplicas, dp.LastKnownELR)
	}

	// The leader is killed: without eligible leader replicas the ISR keeps
	// it, as before KIP-966.
	c.stop(1, false)
	c.waitPartition(0, topic, "no leader, ISR [2]", func(p cluster.PartitionImage) bool {
		return p.Leader == -1 && slices.Equal(p.ISR, []int32{2})
	})
	if dp := c.describePartition(0, topic); dp.LeaderID != -1 || !slices.Equal(dp.ISR, []int32{2}) || len(dp.EligibleLeaderReplicas) != 0 {
		t.Fatalf("described leader %d ISR %v ELR %v, want -1, [2], []", dp.LeaderID, dp.ISR, dp.EligibleLeaderReplicas)
	}
}

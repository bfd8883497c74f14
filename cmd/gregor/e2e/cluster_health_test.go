package e2e

import (
	"context"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createOn creates a one-partition topic on the given replicas (the first
// is the preferred leader) through node i.
func (c *localCluster) createOn(t *testing.T, i int, topic string, replicas ...int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(i)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(code))
	}
}

// gregor cluster status lists the partitions that are offline (no leader)
// and under-replicated, and gregor topic describe each partition's leader,
// replicas and ISR, before and after a broker is killed.
func TestClusterStatusAndDescribeShowReplicaHealth(t *testing.T) {
	c := clusterUp(t, 3)
	c.createOn(t, 1, "health", 1, 2, 3)
	c.createOn(t, 1, "solo", 3)
	waitFor(t, 30*time.Second, "every replica of health in the ISR", func() bool {
		ps, _, ok := c.partitionState(1, "health")
		return ok && len(ps[0].ISR) == 3 && ps[0].Leader == 1
	})
	out, err := gregor(t, "topic", "describe", "-b", c.addr(2), "health")
	if err != nil {
		t.Fatalf("topic describe: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^0 +1 +\d+ +\[1 2 3\] +\[(1 2 3|1 3 2|2 1 3|2 3 1|3 1 2|3 2 1)\] `).MatchString(out) {
		t.Fatalf("topic describe shows no leader 1, replicas [1 2 3] and a full ISR:\n%s", out)
	}

	if err := syscall.Kill(c.pid(3), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer c.restart(3)
	waitFor(t, 30*time.Second, "node 3 out of the ISR and solo offline", func() bool {
		health, _, ok1 := c.partitionState(1, "health")
		md, err := c.metadata(1, "solo")
		return ok1 && len(health[0].ISR) == 2 && err == nil && md.Topics[0].Partitions[0].Leader == -1
	})
	// The quorum's leader (1 or 2 now) stops hearing from voter 3, and
	// status says so once it has not for 2 s.
	// (Its log end offset and lag are unknown, -1 and -, when the leader
	// is new: node 3 led until it was killed.)
	unreachable := regexp.MustCompile(`(?m)^3 +voter, unreachable +-?\d+ +(\d+|-) +(\S+ ago|-) +`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = gregor(t, "cluster", "status", "--dir", c.dir)
		if err == nil && unreachable.MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status does not mark voter 3 unreachable after 30 s: %v\n%s", err, out)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^OFFLINE +1 +solo-0$`),
		regexp.MustCompile(`(?m)^UNDER-REPLICATED +1 +health-0 \(isr \[[12] [12]\] of \[1 2 3\]\)`),
		// (Whether the other voter is marked depends on the machine's
		// load; TestQuorumMembersMarkUnreachable checks the rule.)
		regexp.MustCompile(`(?m)^[12] +leader +\d+ +\d+ +\S+ ago +`),
	} {
		if !want.MatchString(out) {
			t.Errorf("cluster status does not match %s:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`(?m) $`).MatchString(out) {
		t.Errorf("cluster status has lines ending in spaces:\n%q", out)
	}
	out, err = gregor(t, "topic", "describe", "-b", c.addr(1), "health")
	if err != nil {
		t.Fatalf("topic describe: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^0 +1 +\d+ +\[1 2 3\] +\[[12] [12]\] `).MatchString(out) {
		t.Fatalf("topic describe shows no shrunk ISR:\n%s", out)
	}
}

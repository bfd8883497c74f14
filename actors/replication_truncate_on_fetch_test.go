package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// After a leader change a follower fetches at once and truncates by its
// new leader's diverging epoch (the cluster formed at
// gregor.replication.version 1): no OffsetForLeaderEpoch reaches any node,
// and acks=all writes go on with the follower in the ISR. With
// replica.truncate.on.fetch=false (Config.FollowersAskEpochFirst) the
// follower asks first, as before.
func TestFollowersTruncateOnFetchAfterLeaderChange(t *testing.T) {
	for _, askFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("ask-first=%t", askFirst), func(t *testing.T) {
			c := newTestCluster(t, 1, 2, func(_ int, cfg *Config) { cfg.FollowersAskEpochFirst = askFirst })
			c.startAll()
			const topic = "tof"
			c.createAssigned(0, topic, []int32{2, 3, 1}, "2")
			c.waitISR(0, topic, 1, 2, 3)
			ctx := testContext(t, 60*time.Second)
			prod := newClient(t, c.node(0), kgo.SeedBrokers(c.node(0).Addr().String(), c.node(2).Addr().String()),
				kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.MetadataMinAge(100*time.Millisecond))
			produce := func(n int) {
				for i := range n {
					if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
						t.Fatal(err)
					}
				}
			}
			produce(10)
			c.stop(1, true) // node 2, the leader: a controlled shutdown moves leadership
			c.waitISR(0, topic, 1, 3)
			produce(10) // acks=all with min.insync.replicas=2: the follower fetched in the new epoch
			asked := offsetForLeaderEpochServed(t, c.node(0)) + offsetForLeaderEpochServed(t, c.node(2))
			if askFirst && asked == 0 || !askFirst && asked != 0 {
				t.Fatalf("followers asking first %t: %d OffsetForLeaderEpoch requests served", askFirst, asked)
			}
		})
	}
}

// offsetForLeaderEpochServed is how many OffsetForLeaderEpoch requests n
// answered (its request duration histogram's count).
func offsetForLeaderEpochServed(t *testing.T, n *Node) uint64 {
	t.Helper()
	families, err := n.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "gregor_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() == kmsg.NameForKey(int16(kmsg.OffsetForLeaderEpoch)) {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

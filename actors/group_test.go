package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceN writes records "v<from>".."v<from+count-1>" spread over topic's
// partitions.
func produceN(t *testing.T, ctx context.Context, n *Node, topic string, from, count int) {
	t.Helper()
	cl := newClient(t, n, kgo.DefaultProduceTopic(topic))
	for i := from; i < from+count; i++ {
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// consumeGroup polls a group consumer until it has read want records.
func consumeGroup(t *testing.T, ctx context.Context, cl *kgo.Client, want int) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consumer read %d of %d", len(out), want)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestGroupConsumeCommitResume(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "orders", 0, 90)
	cl := newClient(t, n, kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	recs := consumeGroup(t, ctx, cl, 90)
	if err := cl.CommitRecords(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	produceN(t, ctx, n, "orders", 90, 30)
	cl2 := newClient(t, n, kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs = consumeGroup(t, ctx, cl2, 30)
	for _, r := range recs {
		var i int
		fmt.Sscanf(string(r.Value), "v%d", &i)
		if i < 90 {
			t.Fatalf("resumed consumer read %s again", r.Value)
		}
	}
	lags, err := adm.Lag(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lag %+v", lags["g1"].Lag.Total())
}

// gatherMetric returns the value of metric name with labels (name=value
// pairs) from the node's registry, and whether it is there.
func gatherMetric(t *testing.T, n *Node, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := n.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// The group metrics: groups by state, rebalances, lag per partition.
func TestGroupMetrics(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.Groups = GroupConfig{OffsetsTopicPartitions: 3} })
	ctx := testContext(t, 30*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "measured"); err != nil {
		t.Fatal(err)
	}
	produceN(t, ctx, n, "measured", 0, 10)
	cl := newClient(t, n, kgo.ConsumerGroup("metered"), kgo.ConsumeTopics("measured"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	recs := consumeGroup(t, ctx, cl, 10)
	if err := cl.CommitRecords(ctx, recs[:4]...); err != nil {
		t.Fatal(err)
	}
	if v, ok := gatherMetric(t, n, "gregor_groups", map[string]string{"type": "classic", "state": "Stable"}); !ok || v != 1 {
		t.Errorf("gregor_groups{classic,Stable} = %v (%v), want 1", v, ok)
	}
	if v, ok := gatherMetric(t, n, "gregor_group_rebalances_total", nil); !ok || v < 1 {
		t.Errorf("gregor_group_rebalances_total = %v (%v), want at least 1", v, ok)
	}
	if v, ok := gatherMetric(t, n, "gregor_group_lag", map[string]string{"group": "metered", "topic": "measured", "partition": "0"}); !ok || v != 6 {
		t.Errorf("gregor_group_lag = %v (%v), want 6", v, ok)
	}
	if v, ok := gatherMetric(t, n, "gregor_group_members", map[string]string{"group": "metered"}); !ok || v != 1 {
		t.Errorf("gregor_group_members = %v (%v), want 1", v, ok)
	}
}

// A node stopping answers the JoinGroups waiting in a rebalance with
// NOT_COORDINATOR instead of holding its graceful shutdown for them.
func TestGroupShutdownAnswersParkedJoin(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.Groups = GroupConfig{OffsetsTopicPartitions: 1} })
	ctx := testContext(t, 30*time.Second)
	hook := &keyReadHook{key: int16(kmsg.JoinGroup), read: make(chan struct{}, 4)}
	// v3: no member id required first. kgo retries a JoinGroup answered
	// NOT_COORDINATOR, so the hook sees the answer.
	cl := pinnedClient(t, n, int16(kmsg.JoinGroup), 3, kgo.WithHooks(hook))
	join := func() (*kmsg.JoinGroupResponse, error) {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType = "parked", "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 30000, 60000
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{}}}
		return req.RequestWith(ctx, cl)
	}
	if a, err := join(); err != nil || a.ErrorCode != 0 || a.Generation != 1 {
		t.Fatalf("first join: %+v %v", a, err)
	}
	<-hook.read
	// The second member waits for the first to rejoin, which it never does.
	go join()
	waitUntil(t, ctx, "the join to wait", func() bool {
		described, err := kadm.NewClient(newClient(t, n)).DescribeGroups(ctx, "parked")
		return err == nil && described["parked"].State == "PreparingRebalance"
	})
	start := time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping took %v", took)
	}
	select {
	case <-hook.read:
	case <-ctx.Done():
		t.Fatal("the waiting JoinGroup was never answered")
	}
}

package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

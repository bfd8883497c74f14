package actors

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWokenFetchReadsBehindQueuedAppends: a Produce to several partitions
// of one leader reaches their actors at once; the first to append wakes a
// follower's parked Fetch. The Fetch must read the other partitions behind
// their queued appends (through their actors), not from their views, which
// do not show the appends yet: else it answers with one partition, and each
// other partition's records take a Fetch of their own (the follower's
// Fetches per Produce grew by a third, and the brokers' CPU per record by
// as much).
func TestWokenFetchReadsBehindQueuedAppends(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "batch"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("batch", 6)
	c.waitISRFull(active, "batch", 6)
	var seeds []string
	for i := range 3 {
		seeds = append(seeds, c.node(i).Addr().String())
	}
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	requests := func(api string) (total uint64) {
		for i := range 3 {
			o, _ := c.node(i).metrics.requests.GetMetricWithLabelValues(api)
			var m dto.Metric
			if err := o.(prometheus.Metric).Write(&m); err != nil {
				t.Fatal(err)
			}
			total += m.GetHistogram().GetSampleCount()
		}
		return total
	}
	val := make([]byte, 1024)
	fetches0, produces0 := requests("Fetch"), requests("Produce")
	for range 20_000 {
		prod.Produce(ctx, &kgo.Record{Topic: "batch", Value: val}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fetches, produces := requests("Fetch")-fetches0, requests("Produce")-produces0
	t.Logf("%d Produce requests, %d Fetch requests", produces, fetches)
	if produces == 0 {
		t.Fatal("no Produce request")
	}
	if perProduce := float64(fetches) / float64(produces); perProduce > 2.8 {
		t.Fatalf("%.1f Fetch requests per Produce request, want at most 2.8", perProduce)
	}
}

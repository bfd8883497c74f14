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
//
// It counts the Fetches answered before the followers' max wait
// (replica.fetch.wait.max.ms, 500 ms): those data or a wake-up answered.
// Each idle follower's Fetch also answers empty at its max wait, twice a
// second, and under load or the race detector, where the 20,000 records
// took seconds longer, those expiries alone pushed the count of all
// Fetches past the bound.
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
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	// requests counts the requests of api answered before the followers'
	// max wait (the largest bucket bound below it), and all of them.
	const maxWaitSeconds = 0.5
	requests := func(api string) (beforeMaxWait, total uint64) {
		for i := range 3 {
			o, _ := c.node(i).metrics.requests.GetMetricWithLabelValues(api)
			var m dto.Metric
			if err := o.(prometheus.Metric).Write(&m); err != nil {
				t.Fatal(err)
			}
			total += m.GetHistogram().GetSampleCount()
			var under uint64
			for _, b := range m.GetHistogram().GetBucket() {
				if b.GetUpperBound() < maxWaitSeconds {
					under = b.GetCumulativeCount()
				}
			}
			beforeMaxWait += under
		}
		return beforeMaxWait, total
	}
	val := make([]byte, 1024)
	fetches0, allFetches0 := requests("Fetch")
	_, produces0 := requests("Produce")
	for range 20_000 {
		prod.Produce(ctx, &kgo.Record{Topic: "batch", Value: val}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fetches, allFetches := requests("Fetch")
	_, produces := requests("Produce")
	fetches, allFetches, produces = fetches-fetches0, allFetches-allFetches0, produces-produces0
	t.Logf("%d Produce requests, %d Fetch requests answered before their max wait (%d in all)", produces, fetches, allFetches)
	if produces == 0 {
		t.Fatal("no Produce request")
	}
	if perProduce := float64(fetches) / float64(produces); perProduce > 2.8 {
		t.Fatalf("%.1f Fetch requests answered before their max wait per Produce request, want at most 2.8", perProduce)
	}
}

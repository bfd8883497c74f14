package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchSkipsCaughtUpPartitions: followers of a topic of many partitions,
// of which only one takes records, fetch every partition from their leader
// in each Fetch; the partitions they are caught up in are answered from the
// partitions' fetch views, not read through their actors, so the reads
// sent to actors per replicated record stay a few, not a few per partition.
// The records still replicate (acks=all waits for both followers).
func TestFetchSkipsCaughtUpPartitions(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	const partitions = 24
	if _, err := c.admin(active).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "skip"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("skip", partitions)
	c.waitISRFull(active, "skip", partitions)
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	counts := func() (sent, skipped float64) {
		for i := range 3 {
			m := c.node(i).metrics
			sent += testutil.ToFloat64(m.fetchReadsSent)
			skipped += testutil.ToFloat64(m.fetchReadsSkipped)
		}
		return sent, skipped
	}
	// One record first, so every follower has fetched every partition.
	produceOne := func(i int) {
		rec := &kgo.Record{Topic: "skip", Partition: 0, Value: []byte(fmt.Sprint(i))}
		if err := prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceOne(-1)
	sent0, skipped0 := counts()
	const records = 40
	start := time.Now()
	var slowest time.Duration
	for i := range records {
		one := time.Now()
		produceOne(i)
		slowest = max(slowest, time.Since(one))
	}
	elapsed := time.Since(start)
	sent, skipped := counts()
	sent, skipped = sent-sent0, skipped-skipped0
	t.Logf("%d acks=all records in %v (slowest %v): %.0f partition reads through actors, %.0f from views", records, elapsed, slowest, sent, skipped)
	if skipped == 0 {
		t.Fatal("no partition read answered from a fetch view")
	}
	// Each record: each of two followers is woken with it (one read of
	// the partition), then fetches past it (one read that records its
	// progress), plus idle fetches' periodic refreshes. Reading every
	// partition each time would be some 2*2*24 per record.
	if perRecord := sent / records; perRecord > 8 {
		t.Fatalf("%.1f partition reads through actors per replicated record, want a few", perRecord)
	}
	c.waitReplicasIdentical(active, "skip", partitions)
}

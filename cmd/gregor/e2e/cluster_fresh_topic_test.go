package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// An acks=all produce to a topic created a moment before, replication
// factor 3 on a 3-node cluster, is acknowledged within a bound: the
// followers of the new partition start fetching from its leader at once:
// none waits for a Fetch of other partitions parked at that leader
// (replica.fetch.wait.max.ms, 500 ms) before it asks for the new one. The
// time measured runs from the CreateTopics answer to the acknowledgement,
// the client's metadata round trips included (its retry backoffs are set
// short, so they do not hide the brokers' own waits).
func TestFreshTopicAcksAllPromptly(t *testing.T) {
	c := clusterUp(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(10*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }),
		kgo.ProducerLinger(0), kgo.RecordRetries(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const topics = 20
	var took []time.Duration
	for i := range topics {
		name := fmt.Sprintf("fresh-%d", i)
		resp, err := adm.CreateTopic(ctx, 1, 3, nil, name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		created := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: name, Value: []byte("first")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", name, err)
		}
		took = append(took, time.Since(created))
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	p50, worst := sorted[len(sorted)/2], sorted[len(sorted)-1]
	t.Logf("create → acks=all ack over %d topics: p50 %v, max %v; all: %v", topics, p50, worst, took)
	// Before a fresh partition gave up its fetcher's Fetch parked at the
	// leader (cluster.FetcherConfig.PromptFetchGapMs), the median was
	// 0.42–0.50 s (that Fetch's 500 ms wait) and the worst 0.5–1.1 s; after,
	// 21–68 ms, the worst 0.06–0.6 s (a follower that asked before its
	// leader applied the topic learnt so only at that leader's 500 ms
	// deadline); since the leader answers such a Fetch at once, 19–31 ms,
	// the worst 39–44 ms, at load 10. The bound is half the 500 ms wait,
	// with room for a loaded 2-core machine.
	if bound := 250 * time.Millisecond; p50 > bound {
		t.Errorf("median create → ack %v, want under %v", p50, bound)
	}
}

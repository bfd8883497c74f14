package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A franz-go consumer asks for a fetch session (KIP-227) and, once the
// broker opened one, fetches incrementally: the answers leave out the
// partitions with nothing new, and the consumer still reads every record
// once, in order, as records come to a few partitions at a time.
func TestKgoConsumerFetchesInASession(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	const partitions = 8
	prod := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, partitions, 1, nil, "sessions"); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, n, kgo.ConsumeTopics("sessions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	next := make([]int64, partitions) // the next offset the consumer must read, by partition
	want := 0
	for round := range 12 {
		// Records to two partitions of eight in each round.
		for _, p := range []int32{int32(round % partitions), int32((round * 3) % partitions)} {
			for i := range 5 {
				r := &kgo.Record{Topic: "sessions", Partition: p, Value: []byte(fmt.Sprint(round, "-", i))}
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
				want++
			}
		}
		got := 0
		for _, o := range next {
			got += int(o)
		}
		for got < want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("round %d: read %d records of %d", round, got, want)
			}
			fs.EachError(func(topic string, p int32, err error) { t.Fatalf("%s-%d: %v", topic, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				got++
			})
		}
	}
	incremental := testutil.ToFloat64(n.metrics.fetchSessionsIncremental)
	leftOut := testutil.ToFloat64(n.metrics.fetchSessionPartitionsLeftOut)
	t.Logf("%v incremental Fetches, %v partitions left out of their answers", incremental, leftOut)
	if incremental == 0 || leftOut == 0 {
		t.Fatalf("incremental Fetches %v, partitions left out %v: the consumer fetched in no session", incremental, leftOut)
	}
}

// Followers fetch in sessions: with min.insync.replicas=3, every acks=all
// Produce needs both followers to have fetched its records through
// incremental Fetches that list the one partition that moved while the
// others stay in the leader's session.
func TestFollowersFetchInSessions(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, "followed"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("followed", 6)
	c.waitISRFull(active, "followed", 6)
	prod := newClient(t, c.node(active), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	for i := range 60 {
		r := &kgo.Record{Topic: "followed", Partition: int32(i % 2), Value: []byte(fmt.Sprint(i))}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	var incremental, leftOut float64
	for i := range 3 {
		incremental += testutil.ToFloat64(c.node(i).metrics.fetchSessionsIncremental)
		leftOut += testutil.ToFloat64(c.node(i).metrics.fetchSessionPartitionsLeftOut)
	}
	t.Logf("%v incremental Fetches, %v partitions left out of their answers", incremental, leftOut)
	if incremental == 0 || leftOut == 0 {
		t.Fatalf("incremental Fetches %v, partitions left out %v: the followers fetched in no session", incremental, leftOut)
	}
}

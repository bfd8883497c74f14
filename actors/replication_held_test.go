package actors

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/logstore"
)

// A leader holds the produce frames of its appends for its followers'
// fetches, and lets every one go once they have the records: after acks=1
// produces (whose frames netio would let go right after the append), some
// bytes were held, none stays held on any node, and the replicas are
// identical byte for byte (test nodes poison released frames, so a follower
// sent a frame after its release would hold other bytes, or refuse the
// batch for its CRC).
func TestLeaderHeldFramesServeFollowersAndDrain(t *testing.T) {
	c := newTestCluster(t, 1, 2, nil)
	c.startAll()
	const topic = "held"
	c.createAssigned(0, topic, []int32{1, 2, 3}, "2")
	c.waitISR(0, topic, 1, 2, 3)
	ctx := testContext(t, 120*time.Second)
	prod := newClient(t, c.node(0), kgo.ProducerLinger(time.Millisecond), kgo.RequiredAcks(kgo.LeaderAck()))
	value := bytes.Repeat([]byte("v"), 4<<10)
	var acked []ackedRecord
	for round := range 20 {
		results := make(chan kgo.ProduceResults, 10)
		for i := range 10 {
			r := &kgo.Record{Topic: topic, Value: append([]byte(fmt.Sprintf("%d-%d-", round, i)), value...)}
			prod.Produce(ctx, r, func(r *kgo.Record, err error) { results <- kgo.ProduceResults{{Record: r, Err: err}} })
		}
		for range 10 {
			res := <-results
			r, err := res.First()
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
			acked = append(acked, ackedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		}
	}
	var total int64
	for i := range 3 {
		total += c.node(i).held.TotalBytes()
	}
	if total == 0 {
		t.Fatal("no leader held a produce frame for its followers")
	}
	c.waitReplicasIdentical(0, topic, 1)
	waitFor(t, 30*time.Second, "every held frame let go", func() bool {
		for i := range 3 {
			if c.node(i).held.UsedBytes() != 0 {
				return false
			}
		}
		return true
	})
	checkAcked(t, c.node(2), topic, acked)
}

// A leader holds, as it holds produce frames, the batches built for an
// append alone: a transaction's markers (its core encodes them) and its
// coordinators' records. Its followers' fetches of them, several small
// batches per transaction, are then answered from memory instead of read
// back from the segment file (a pread each). Committing a transaction
// whose records are acknowledged already (their frames held then) holds
// at least its marker more; the replicas stay identical byte for byte.
func TestLeaderHoldsMarkersAndCoordinatorBatches(t *testing.T) {
	c := newTestCluster(t, 1, 2, func(_ int, cfg *Config) {
		cfg.Txns = TxnConfig{StateLogPartitions: 1, StateLogReplicationFactor: 3, StateLogMinISR: 2}
	})
	c.startAll()
	const topic = "held-markers"
	c.createAssigned(0, topic, []int32{1, 2, 3}, "2")
	c.waitISR(0, topic, 1, 2, 3)
	ctx := testContext(t, 120*time.Second)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.node(0).Addr().String()), kgo.TransactionalID("held-markers"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	held := func() (total int64) {
		for i := range 3 {
			total += c.node(i).held.TotalBytes()
		}
		return total
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("in a transaction")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := held()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	marker := int64(len(logstore.TxnMarkerBatch(1, 0, 0, true, 0)))
	waitFor(t, 30*time.Second, "the marker held", func() bool { return held()-before >= marker })
	c.waitReplicasIdentical(0, topic, 1)
}

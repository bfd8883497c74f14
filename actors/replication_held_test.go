package actors

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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

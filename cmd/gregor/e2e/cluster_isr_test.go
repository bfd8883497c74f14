package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A follower process paused (SIGSTOP) past replica.lag.time.max.ms leaves
// the ISR; with min.insync.replicas=3 acks=all writes are then refused
// NOT_ENOUGH_REPLICAS while acks=1 writes work; resumed (SIGCONT), the
// follower catches up and rejoins the ISR, acks=all works again, and every
// acknowledged record is read through it.
func TestPausedFollowerLeavesAndRejoinsISR(t *testing.T) {
	c := clusterUp(t, 3, "replica.lag.time.max.ms=1000")
	c.createOn(t, 1, "lag", 1, 2, 3)
	c.setMinISR(t, 3, "lag")
	isr := func(n int) bool {
		ps, _, ok := c.partitionState(1, "lag")
		return ok && len(ps[0].ISR) == n && ps[0].Leader == 1
	}
	waitFor(t, 30*time.Second, "a full ISR", func() bool { return isr(3) })
	acked := c.produceAcked(t, "lag", 1, 10)

	pid := c.pid(3)
	resume := pauseProcess(t, pid)
	paused := time.Now()
	waitFor(t, 30*time.Second, "node 3 out of the ISR", func() bool { return isr(2) })
	t.Logf("the paused follower left the ISR after %v", time.Since(paused))
	_, topicID, _ := c.partitionState(1, "lag")
	if _, err := rawProduce(c.addr(1), "lag", topicID, 0, "refused"); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with 2 in sync of min.insync.replicas=3: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	one, err := kgo.NewClient(kgo.SeedBrokers(c.addr(1), c.addr(2)), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := one.ProduceSync(ctx, &kgo.Record{Topic: "lag", Partition: 0, Value: []byte("acks-1")}).First()
	if err != nil {
		t.Fatalf("acks=1 with the ISR below min.insync.replicas: %v", err)
	}
	acked[0][r.Offset] = "acks-1"

	resume()
	waitFor(t, 30*time.Second, "node 3 back in the ISR", func() bool { return isr(3) })
	for off, v := range c.produceAcked(t, "lag", 1, 10)[0] {
		acked[0][off] = v
	}
	c.consumeAcked(t, 3, "lag", acked)
}

package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A transactional producer whose first produce of a transaction to a
// partition fails its add (the coordinator timed out, moved, or was busy)
// while the produces pipelined behind it get theirs: the partition must
// not append the later batches ahead of the failed one, or the producer's
// retry of it is refused as out of order (OUT_OF_ORDER_SEQUENCE_NUMBER)
// and franz-go fails the transaction (then OPERATION_NOT_ATTEMPTED). Under
// transaction.version 2 the marker of the producer's previous transaction
// carries the bumped epoch, so the partition knows the new epoch but no
// sequence of it. Every record commits once, in order.
func TestTxnFailedAddKeepsSequencesInOrder(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	const topic, txnID, records = "failed-add", "failed-add-producer", 300
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID(txnID), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// A first transaction on partition 0: the producer has had an answer
	// from it (franz-go pipelines a partition's produces only after one),
	// and its marker leaves the partition at the producer's next epoch.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("warm-up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	// The first two asks of the next transaction are the test's: the
	// request's one add of the partition, then the partition's own ask for
	// the first produce. Later asks go to the coordinator.
	var mu sync.Mutex
	var held []txnAsk
	seen := 0
	intercept := func(a txnAsk) bool {
		mu.Lock()
		defer mu.Unlock()
		if a.txnID != txnID {
			return false
		}
		seen++
		if seen <= 2 {
			held = append(held, a)
			return true
		}
		return false
	}
	n.txns.intercept.Store(&intercept)
	defer n.txns.intercept.Store(nil)
	asks := func() ([]txnAsk, int) {
		mu.Lock()
		defer mu.Unlock()
		return append([]txnAsk(nil), held...), seen
	}
	queued := func() int {
		p := &n.txns.producedAdds
		p.mu.Lock()
		defer p.mu.Unlock()
		if e := p.m[txnID]; e != nil {
			return len(e.queue)
		}
		return 0
	}

	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, records)
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprintf("0-%d", i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					errs <- err
				}
				wg.Done()
			})
		}
	}
	// The first produce's add is held; the records produced meanwhile go
	// in the next produces, pipelined behind it (queued behind its add).
	produce(0, 1)
	waitUntil(t, ctx, "the first produce's add", func() bool {
		h, _ := asks()
		return len(h) == 1
	})
	produce(1, records)
	waitUntil(t, ctx, "a produce pipelined behind the first", func() bool { return queued() >= 2 })
	// Then the add fails, and the partition asks for each produce itself.
	h, _ := asks()
	h[0].done(kerr.NotEnoughReplicas.Code)
	// The first produce's own ask fails too, once a later produce asked
	// (and its ask went to the coordinator).
	waitUntil(t, ctx, "the partition's asks for the first produce and a later one", func() bool {
		h, s := asks()
		return len(h) == 2 && s >= 3
	})
	h, _ = asks()
	h[1].done(kerr.NotEnoughReplicas.Code)

	waitGroup(t, &wg, "the produces")
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got := consumeValues(ctx, t, n, topic, records+1)
	if len(got[0]) == 0 || got[0][0] != "warm-up" {
		t.Fatalf("partition 0 starts %v, want the warm-up record", got[0][:min(len(got[0]), 1)])
	}
	got[0] = got[0][1:]
	checkExactlyOnceInOrder(t, got, records)
}

package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnCoordinatorPipelinesAppends: two transactional ids of one
// __transaction_state partition start transactions at once; while the
// first id's record is being appended (held before it reaches the
// partition), the second id's goes to the partition too, not after the
// first is acknowledged (with one append in flight per coordinator it
// waited: coordinatorAppendsInFlight). Released, the second first (its
// outcome waits for the first's), both transactions commit and a
// read_committed consumer reads every committed record.
func TestTxnCoordinatorPipelinesAppends(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Txns = TxnConfig{StateLogPartitions: 1}
	})
	ctx := testContext(t, 60*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 2, 1, nil, "pipelined"); err != nil {
		t.Fatal(err)
	}
	var clients []*kgo.Client
	// Each producer writes a partition of its own, values in the order
	// readValues wants.
	for i, id := range []string{"a", "b"} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("pipelined-"+id),
			kgo.TransactionTimeout(30*time.Second), kgo.DefaultProduceTopic("pipelined"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		clients = append(clients, cl)
		// A first transaction: the producer id, and a completion.
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i), Value: []byte("0-" + id)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu   sync.Mutex
		held []func()
	)
	hold := func(send func()) bool {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, send)
		return true
	}
	n.txns.holdAppend.Store(&hold)
	heldCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
	results := make(chan error, 2)
	produce := func(cl *kgo.Client, partition int32, v string) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Partition: partition, Value: []byte(v)}, func(_ *kgo.Record, err error) { results <- err })
	}
	produce(clients[0], 0, "1-a")
	waitFor(t, 10*time.Second, "the first id's append", func() bool { return heldCount() >= 1 })
	produce(clients[1], 1, "1-b")
	waitFor(t, 10*time.Second, "the second id's append while the first's is in flight", func() bool { return heldCount() >= 2 })

	n.txns.holdAppend.Store(nil)
	mu.Lock()
	// The second first: its answer waits for the first's.
	for i := len(held) - 1; i >= 0; i-- {
		held[i]()
	}
	mu.Unlock()
	for range clients {
		if err := <-results; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	for _, cl := range clients {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	got := readValues(ctx, t, n, "pipelined", kgo.ReadCommitted(), 4)
	if len(got) != 4 {
		t.Fatalf("read %v", got)
	}
}

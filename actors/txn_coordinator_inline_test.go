package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/txn"
)

// TestTxnCoordinatorAppendsOnItsGoroutine: a transaction coordinator's
// appends to its idle __transaction_state partition, and the last of its
// markers to an idle partition of its node, run on the coordinator's
// goroutine (inlineMessage), not on a worker the coordinator wakes. Each
// transaction appends two or three records there and writes a marker
// here: handed to workers, those cost 3-4 hand-offs per transaction.
func TestTxnCoordinatorAppendsOnItsGoroutine(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Txns = TxnConfig{StateLogPartitions: 1}
	})
	ctx := testContext(t, 60*time.Second)
	const topic = "inline-appends"
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("inline-appends"),
		kgo.TransactionTimeout(30*time.Second), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	next := 0 // values sort in the order written (readValues)
	transact := func(count int) {
		for range count {
			next++
			if err := cl.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%03d", next))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	transact(3) // the producer id, the connections
	rt := n.routes.load()
	state, data := n.fetchBoards.of(rt.partition(txn.StateTopic, 0)), n.fetchBoards.of(rt.partition(topic, 0))
	if state == nil || data == nil {
		t.Fatal("no fetch board for the partitions")
	}
	stateBefore, dataBefore := state.handedOff.Load(), data.handedOff.Load()
	const transactions = 20
	transact(transactions)
	stateHanded, dataHanded := state.handedOff.Load()-stateBefore, data.handedOff.Load()-dataBefore
	t.Logf("%d transactions: %d hand-offs of %s-0, %d of %s-0", transactions, stateHanded, txn.StateTopic, dataHanded, topic)
	// A message that comes while the coordinator runs the partition is
	// handed off after it (runInline); workers everywhere cost 2-3 per
	// transaction on the state partition and 1 on the data partition.
	if limit := int64(transactions / 2); stateHanded > limit {
		t.Errorf("%d hand-offs of the state partition for %d transactions, want at most %d", stateHanded, transactions, limit)
	}
	if limit := int64(transactions / 2); dataHanded > limit {
		t.Errorf("%d hand-offs of the data partition for %d transactions, want at most %d", dataHanded, transactions, limit)
	}
	got := readValues(ctx, t, n, topic, kgo.ReadCommitted(), 3+transactions)
	if len(got) != 3+transactions {
		t.Fatalf("read %d committed records, want %d", len(got), 3+transactions)
	}
}

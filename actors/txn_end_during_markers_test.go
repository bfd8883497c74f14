package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/txn"
)

// franz-go's transactional producer (KIP-890 part 2) that buffered records
// for a transaction and sent none aborts it, at the epoch the last commit's
// answer gave it, while that commit's markers may still be written: the
// abort is told to retry (CONCURRENT_TRANSACTIONS) until they are, then
// goes through, as from Kafka. It was told INVALID_TXN_STATE, fatal to the
// client (franz-go's TestTxnEtl on three nodes, scripts/clientsuite). Here
// the marker is held by stopping the one replica of the committed
// partition until the abort was retried.
func TestTxnEndWhileMarkersWritten(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Txns = TxnConfig{StateLogPartitions: 3, StateLogReplicationFactor: 3, StateLogMinISR: 2}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	const txnID = "end-during-markers"

	// The held partition's one replica is on a node that is neither the
	// transactional id's coordinator nor the active controller.
	admin := newClient(t, c.node(active))
	waitFor(t, 30*time.Second, "a transaction coordinator", func() bool {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = 1, txnID, []string{txnID}
		resp, err := req.RequestWith(ctx, admin)
		return err == nil && len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0
	})
	stateLeaders := c.waitForTopic(txn.StateTopic, 3)
	coordinator := stateLeaders[txn.PartitionFor(txnID, 3)]
	held := int32(-1)
	for id := int32(1); id <= 3; id++ {
		if id != coordinator && (held < 0 || id != int32(active+1)) {
			held = id
		}
	}
	c.createAssigned(active, "held", []int32{held}, "1")

	ends := &requestCounter{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.node(active).Addr().String()), kgo.TransactionalID(txnID),
		kgo.TransactionTimeout(60*time.Second), kgo.DefaultProduceTopic("held"), kgo.WithHooks(ends))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.stop(int(held-1), true)
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// The next transaction's record cannot go out (its partition has no
	// leader): the producer drops it and aborts.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	cl.Produce(ctx, &kgo.Record{Value: []byte("aborted")}, nil)
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		t.Fatal(err)
	}
	sent := ends.sent(kmsg.EndTxn)
	done := make(chan error, 1)
	go func() { done <- cl.EndTransaction(ctx, kgo.TryAbort) }()
	waitFor(t, 30*time.Second, "the abort to be told to retry", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the abort ended while the commit's marker was held: %v (want it retried until written)", err)
		default:
		}
		return ends.sent(kmsg.EndTxn) >= sent+2
	})
	if err := c.tryStart(int(held - 1)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("abort once the marker was written: %v", err)
	}
	if got := readValues(ctx, t, c.node(active), "held", kgo.ReadCommitted(), 1); len(got) != 1 || got[0] != "committed" {
		t.Fatalf("read_committed read %q", got)
	}
	s := describeTxn(ctx, t, cl, txnID)
	if s.State != "CompleteAbort" {
		t.Fatalf("the transaction is %+v, want CompleteAbort", s)
	}
}

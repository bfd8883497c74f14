package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DescribeTransactions (kadm) shows a committed transaction's start time,
// as Kafka does (its coordinator keeps txnStartTimestamp through
// CompleteCommit), also once the coordinator was loaded again after a
// restart; a new InitProducerId clears it (-1).
func TestDescribeTransactionsKeepsStartOfCompleted(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 30*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "started"); err != nil {
		t.Fatal(err)
	}
	newTxnClient := func(n *Node) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("starter"), kgo.DefaultProduceTopic("started"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	describe := func(adm *kadm.Client) kadm.DescribedTransaction {
		t.Helper()
		described, err := adm.DescribeTransactions(ctx, "starter")
		if err != nil {
			t.Fatal(err)
		}
		d, ok := described["starter"]
		if !ok || d.Err != nil {
			t.Fatalf("starter: %+v", described)
		}
		return d
	}
	before := time.Now().UnixMilli()
	cl := newTxnClient(n)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	d := describe(adm)
	if d.State != "CompleteCommit" || d.StartTimestamp < before || d.StartTimestamp > after {
		t.Fatalf("after the commit (started within [%d, %d]): %+v", before, after, d)
	}
	cl.Close()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	adm2 := kadm.NewClient(newClient(t, n2))
	var loaded kadm.DescribedTransaction
	for {
		described, err := adm2.DescribeTransactions(ctx, "starter")
		if loaded = described["starter"]; err == nil && loaded.Err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after a restart: %v %+v", err, described)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if loaded.State != "CompleteCommit" || loaded.StartTimestamp != d.StartTimestamp {
		t.Fatalf("after a restart: %+v, before it %+v", loaded, d)
	}
	if _, err := initTxn(ctx, newClient(t, n2), "starter"); err != nil {
		t.Fatal(err)
	}
	if d := describe(adm2); d.State != "Empty" || d.StartTimestamp != -1 {
		t.Fatalf("after a new InitProducerId: %+v", d)
	}
}

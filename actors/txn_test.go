package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/txn"
)

// A partition leader's verification (KIP-890 part 1) reaches the
// transaction coordinator: a partition in the ongoing transaction passes,
// another is INVALID_TXN_STATE, a stale epoch is fenced.
func TestVerifyTransaction(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "verified"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "verifier")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.addPartition(ctx, cl, "verified", 0); err != nil {
		t.Fatal(err)
	}
	verify := func(epoch int16, partition int32) int16 {
		codes := make(chan int16, 1)
		n.verifyTransaction(p.id, p.pid, epoch, txn.TopicPartition{Topic: "verified", Partition: partition}, func(c int16) { codes <- c })
		select {
		case c := <-codes:
			return c
		case <-ctx.Done():
			t.Fatal("no verification answer")
		}
		return 0
	}
	if c := verify(p.epoch, 0); c != 0 {
		t.Fatalf("partition in the transaction: %s", kerr.ErrorForCode(c))
	}
	if c := verify(p.epoch, 1); c != kerr.InvalidTxnState.Code {
		t.Fatalf("partition not in the transaction: %s", kerr.ErrorForCode(c))
	}
	if c := verify(p.epoch+1, 0); c != kerr.ProducerFenced.Code {
		t.Fatalf("another epoch: %s", kerr.ErrorForCode(c))
	}
}

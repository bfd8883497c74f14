package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
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
		n.verifyTransaction(p.id, p.pid, epoch, logstore.TopicPartition{Topic: "verified", Partition: partition}, func(c int16) { codes <- c })
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
	if c := verify(p.epoch, 1); c != kerr.TransactionAbortable.Code {
		t.Fatalf("partition not in the transaction: %s", kerr.ErrorForCode(c))
	}
	if c := verify(p.epoch+1, 0); c != kerr.ProducerFenced.Code {
		t.Fatalf("another epoch: %s", kerr.ErrorForCode(c))
	}
}

// markersServed says whether this build serves WriteTxnMarkers (the
// partition side of transactions): without it a transaction that ends
// stays preparing, its markers retried.
func markersServed() bool {
	for _, r := range servedAPIVersions() {
		if r.APIKey == int16(kmsg.WriteTxnMarkers) {
			return true
		}
	}
	return false
}

// describeTxn describes one transactional id. While its coordinator is
// not there to answer, it asks again until ctx ends, as a client does:
// FindCoordinator answers COORDINATOR_NOT_AVAILABLE while the coordinator
// loads or while the node's broker lease has lapsed (a controller
// heartbeat answered late on a loaded machine), and franz-go hands that
// answer back to a DescribeTransactions request without asking again.
func describeTxn(ctx context.Context, t *testing.T, cl *kgo.Client, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	for {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		resp, err := req.RequestWith(ctx, cl)
		switch {
		case err == nil && len(resp.TransactionStates) == 1 && !coordinatorAway(kerr.ErrorForCode(resp.TransactionStates[0].ErrorCode)):
			return resp.TransactionStates[0]
		case err == nil && len(resp.TransactionStates) == 1, coordinatorAway(err):
		default:
			t.Fatalf("DescribeTransactions %s: %v %+v", id, err, resp)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("DescribeTransactions %s: no coordinator answered: %v %+v", id, err, resp)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// coordinatorAway says err is an answer a client meets while its
// coordinator loads, moves or cannot answer for now, and retries.
func coordinatorAway(err error) bool {
	return errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.NotCoordinator) ||
		errors.Is(err, kerr.CoordinatorLoadInProgress)
}

// awaitTxnState polls id's state until done says yes, or fails at ctx's end.
func awaitTxnState(ctx context.Context, t *testing.T, cl *kgo.Client, id string, done func(kmsg.DescribeTransactionsResponseTransactionState) bool) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	for {
		s := describeTxn(ctx, t, cl, id)
		if done(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s stays %+v", id, s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A second producer with the same transactional id fences the first: the
// first's open transaction is aborted under a bumped epoch, the second is
// told to retry until the abort is done, and the first is refused with
// PRODUCER_FENCED from then on.
func TestTxnZombieFenced(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "fenced"); err != nil {
		t.Fatal(err)
	}
	zombie, err := initTxn(ctx, cl, "zombie")
	if err != nil {
		t.Fatal(err)
	}
	if err := zombie.addPartition(ctx, cl, "fenced", 0); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("zombie"), 60_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("InitProducerId of the new producer while the old one's transaction is open: %v %+v", err, resp)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = zombie.id, zombie.pid, zombie.epoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("the zombie's EndTxn: %v %+v", err, resp)
	}
	if err := zombie.addPartition(ctx, cl, "fenced", 1); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("the zombie's AddPartitionsToTxn: %v", err)
	}
	// The fenced producer is refused from the moment the coordinator
	// decided (its abort appended meanwhile shows PrepareEpochFence, at the
	// old epoch); the abort appended, it shows under the bumped epoch.
	awaitTxnState(ctx, t, cl, "zombie", func(s kmsg.DescribeTransactionsResponseTransactionState) bool {
		switch {
		case s.State == "PrepareEpochFence" && s.ProducerEpoch == zombie.epoch:
			return false
		case s.ProducerEpoch != zombie.epoch+1 || (s.State != "PrepareAbort" && s.State != "CompleteAbort"):
			t.Fatalf("after the fence: %+v", s)
		}
		return true
	})
	if !markersServed() {
		return
	}
	awaitTxnState(ctx, t, cl, "zombie", func(s kmsg.DescribeTransactionsResponseTransactionState) bool { return s.State == "CompleteAbort" })
	next, err := initTxn(ctx, cl, "zombie")
	if err != nil || next.pid != zombie.pid || next.epoch != zombie.epoch+2 {
		t.Fatalf("the new producer after the abort: %+v %v", next, err)
	}
}

// A transaction left open past its timeout is aborted by the coordinator,
// its producer fenced; the coordinator reloaded from its partition after
// a restart knows the transactional id as it was.
func TestTxnTimeoutAbortsAndReload(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "slow"); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("slow"), 300
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %+v", err, resp)
	}
	p := txnProducer{id: "slow", pid: resp.ProducerID, epoch: resp.ProducerEpoch}
	if err := p.addPartition(ctx, cl, "slow", 0); err != nil {
		t.Fatal(err)
	}
	// PrepareEpochFence shows while the fence is appended, before the
	// abort.
	s := awaitTxnState(ctx, t, cl, "slow", func(s kmsg.DescribeTransactionsResponseTransactionState) bool {
		return s.State != "Ongoing" && s.State != "PrepareEpochFence"
	})
	if s.ProducerEpoch != p.epoch+1 || (s.State != "PrepareAbort" && s.State != "CompleteAbort") {
		t.Fatalf("after the timeout: %+v", s)
	}
	cl.Close()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	cl2 := newClient(t, n2)
	loaded := awaitTxnState(ctx, t, cl2, "slow", func(s kmsg.DescribeTransactionsResponseTransactionState) bool { return s.ErrorCode == 0 })
	if loaded.ProducerID != p.pid || loaded.ProducerEpoch != p.epoch+1 || loaded.TimeoutMillis != 300 {
		t.Fatalf("after a restart: %+v, before it %+v", loaded, s)
	}
}

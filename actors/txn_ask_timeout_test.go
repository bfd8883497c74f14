package actors

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// swallowAsks makes n's coordinators deaf to txnID's asks (an ask lost
// with its coordinator's mailbox, or held by it for ever) until the
// returned func is called; swallowed counts them.
func swallowAsks(t *testing.T, n *Node, txnID string) (swallowed *atomic.Int64, restore func()) {
	t.Helper()
	swallowed = &atomic.Int64{}
	intercept := func(a txnAsk) bool {
		if a.txnID != txnID {
			return false
		}
		swallowed.Add(1)
		return true
	}
	n.txns.intercept.Store(&intercept)
	restore = func() { n.txns.intercept.Store(nil) }
	t.Cleanup(restore)
	return swallowed, restore
}

// askTimeoutForTest bounds n's asks at d (verifyTimeout's 10 s in
// production) and says how long a refused produce may take at most: the
// bound, once, and slack for a loaded machine, well under two bounds of
// verifyTimeout.
func askTimeoutForTest(n *Node, d time.Duration) time.Duration {
	n.txns.askTimeoutNs.Store(int64(d))
	return d + 4*time.Second
}

// A Produce v12 (KIP-890 part 2) whose one add is never answered by its
// coordinator on the same node waits for it once, bounded: every partition
// refuses the produce NOT_ENOUGH_REPLICAS, which the producer retries,
// without asking the coordinator again (the produce would wait twice). The
// retry, once the coordinator answers, is taken.
func TestTxnProduceAddNotAnsweredIsRefusedInTime(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	const topic, partitions = "add-unanswered", 3
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "add-unanswered-producer")
	if err != nil {
		t.Fatal(err)
	}
	bound := askTimeoutForTest(n, 300*time.Millisecond)
	swallowed, restore := swallowAsks(t, n, p.id)
	start := time.Now()
	codes := produceTxnToAll(ctx, t, n, p, topic, partitions, 0, 12)
	took := time.Since(start)
	if slices.ContainsFunc(codes, func(c int16) bool { return c != kerr.NotEnoughReplicas.Code }) {
		t.Fatalf("codes %v, want NOT_ENOUGH_REPLICAS from every partition", codes)
	}
	if took > bound {
		t.Fatalf("the refusal took %v, want at most %v", took, bound)
	}
	if got := swallowed.Load(); got != 1 {
		t.Fatalf("the coordinator was asked %d times, want once (the request's add; the partitions ask nothing more)", got)
	}
	if got := testutil.ToFloat64(n.txns.metrics.verifications.WithLabelValues(outcomeTimedOut)); got != 1 {
		t.Fatalf("gregor_txn_verifications_total{outcome=timed_out} %v, want 1", got)
	}
	restore()
	n.txns.askTimeoutNs.Store(0) // the retry waits as in production (verifyTimeout), not the short test bound
	if codes := produceTxnToAll(ctx, t, n, p, topic, partitions, 0, 12); slices.ContainsFunc(codes, func(c int16) bool { return c != 0 }) {
		t.Fatalf("the retry: codes %v", codes)
	}
}

// A transactional produce verified by its partition (KIP-890 part 1)
// whose coordinator never answers is refused NOT_ENOUGH_REPLICAS within
// the bound, and the partition holds nothing of it: the producer's retry
// gets the coordinator's answer at once (a verification left waiting held
// the producer's later produces on the partition behind it for ever).
// The partition is not in the transaction (one added would know it and
// ask nothing): the answer is INVALID_TXN_STATE, and once added the
// produce is taken.
func TestTxnVerificationNotAnsweredIsRefusedInTime(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	const topic = "verify-unanswered"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "verify-unanswered-producer")
	if err != nil {
		t.Fatal(err)
	}
	bound := askTimeoutForTest(n, 300*time.Millisecond)
	swallowed, restore := swallowAsks(t, n, p.id)
	start := time.Now()
	if code := produceTxnTo(ctx, t, n, p, topic, 0, txnRecordBatch(p.pid, p.epoch, 0, 2)); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("produce with its verification unanswered: %s, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
	if took := time.Since(start); took > bound {
		t.Fatalf("the refusal took %v, want at most %v", took, bound)
	}
	if swallowed.Load() == 0 {
		t.Fatal("the partition asked the coordinator nothing")
	}
	timedOut := func() float64 {
		return testutil.ToFloat64(n.txns.metrics.verifications.WithLabelValues(outcomeTimedOut))
	}
	if got := timedOut(); got != float64(swallowed.Load()) {
		t.Fatalf("gregor_txn_verifications_total{outcome=timed_out} %v, want %d (the asks swallowed)", got, swallowed.Load())
	}
	restore()
	n.txns.askTimeoutNs.Store(0) // the retry waits as in production (verifyTimeout), not the short test bound
	start = time.Now()
	if code := produceTxnTo(ctx, t, n, p, topic, 0, txnRecordBatch(p.pid, p.epoch, 0, 2)); code != kerr.InvalidTxnState.Code {
		t.Fatalf("the retry: %s, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if took := time.Since(start); took > bound {
		t.Fatalf("the retry took %v, want at most %v", took, bound)
	}
	if got := testutil.ToFloat64(n.txns.metrics.verifications.WithLabelValues(outcomeRefused)); got != 1 {
		t.Fatalf("gregor_txn_verifications_total{outcome=refused} %v, want 1 (the retry's INVALID_TXN_STATE)", got)
	}
	if err := p.addPartition(ctx, cl, topic, 0); err != nil {
		t.Fatal(err)
	}
	if code := produceTxnTo(ctx, t, n, p, topic, 0, txnRecordBatch(p.pid, p.epoch, 0, 2)); code != 0 {
		t.Fatalf("the produce once the partition was added: %s", kerr.ErrorForCode(code))
	}
}

package actors

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/txn"
)

// goroutineID is the running goroutine's id, from its stack's header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// An idle transaction coordinator handles a partition leader's ask and a
// connection's request on the sender's goroutine (txn_coordinator_inline.go),
// rather than waking a worker for them; both are still answered as before.
func TestTxnCoordinatorRunsInline(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "inline"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "inline-asker")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.addPartition(ctx, cl, "inline", 0); err != nil {
		t.Fatal(err)
	}
	// The coordinator may be busy with a tick of its own now and then:
	// then the message waits in its mailbox for a worker. Idle, it runs at
	// once; in fifty tries it is idle at least once.
	ranInline := func(send func(answered func())) bool {
		for range 50 {
			caller, answeredOn := goroutineID(), make(chan string, 1)
			send(func() { answeredOn <- goroutineID() })
			select {
			case on := <-answeredOn:
				if on == caller {
					return true
				}
			case <-ctx.Done():
				t.Fatal("no answer")
			}
		}
		return false
	}
	ask := func(answered func()) {
		n.verifyTransaction(p.id, p.pid, p.epoch, logstore.TopicPartition{Topic: "inline", Partition: 0}, func(code int16) {
			if code != 0 {
				t.Errorf("verification: %s", kerr.ErrorForCode(code))
			}
			answered()
		})
	}
	if !ranInline(ask) {
		t.Fatal("a leader's ask never ran on its sender's goroutine")
	}
	describe := func(answered func()) {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{p.id}
		n.router.toTxnCoordinator(req, p.id, func(resp kmsg.Response) {
			if s := resp.(*kmsg.DescribeTransactionsResponse).TransactionStates; len(s) != 1 || s[0].State != "Ongoing" {
				t.Errorf("describe: %+v", s)
			}
			answered()
		})
	}
	if !ranInline(describe) {
		t.Fatal("a connection's request never ran on its reader's goroutine")
	}
}

// An idle transaction coordinator's appends to its __transaction_state
// partition run on the coordinator's goroutine when the partition is idle
// too (txnCoordinator.flushAppends): each one handed to a worker woke a
// goroutine, and often a thread, per append.
func TestTxnCoordinatorAppendsOnItsGoroutine(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	const adds = 40
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, adds+1, 1, nil, "appended"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "inline-appender")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.addPartition(ctx, cl, "appended", adds); err != nil { // the transaction opened
		t.Fatal(err)
	}
	rt := n.routes.load()
	board := n.fetchBoards.of(rt.partition(txn.StateTopic, n.txns.partitionOf(rt, p.id)))
	if board == nil {
		t.Fatal("no fetch board for the coordinator's partition")
	}
	before := board.handedOff.Load()
	for i := range int32(adds) { // one append each
		if err := p.addPartition(ctx, cl, "appended", i); err != nil {
			t.Fatal(err)
		}
	}
	got := board.handedOff.Load() - before
	t.Logf("%d hand-offs for %d appends", got, adds)
	// A message that reaches the partition while it runs (its
	// high-watermark checkpoint, say) is handed off after it: a few.
	// Sent through a worker every time, each append cost one.
	if got > adds/2 {
		t.Fatalf("%d hand-offs to workers for %d appends, want at most %d", got, adds, adds/2)
	}
}

// A transaction's marker to a partition on the coordinator's node is
// written on the coordinator's goroutine when the partition is idle (the
// last partition's: txnCoordinator.writeMarkers), not on a worker it
// wakes.
func TestTxnLocalMarkerOnCoordinatorsGoroutine(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	admin := newClient(t, n)
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, "marked"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("inline-marker"), kgo.DefaultProduceTopic("marked"),
		kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	commit := func() {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	commit() // the coordinator, the producer id, the connections
	board := n.fetchBoards.of(n.routes.load().partition("marked", 0))
	if board == nil {
		t.Fatal("no fetch board for marked-0")
	}
	before := board.handedOff.Load()
	const txns = 20
	for range txns {
		commit()
	}
	got := board.handedOff.Load() - before
	t.Logf("%d hand-offs for %d transactions", got, txns)
	// Its produces append on the reader of their connection; its markers
	// went through a worker every time.
	if got > txns/2 {
		t.Fatalf("%d hand-offs to workers for %d transactions' produces and markers, want at most %d", got, txns, txns/2)
	}
}

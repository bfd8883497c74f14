package actors

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
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

package actors

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// protoactor lists a named actor before it gives the actor's mailbox a
// dispatcher and posts Started. The quorum actor, running since
// startActors, tells the broker lifecycle of published routes and of
// quorum leaders; one such message sent while the test goroutine was
// spawning the lifecycle reached a mailbox without a dispatcher and
// panicked in the quorum actor, which failed the node ("metadata actor
// failed: runtime error: invalid memory address or nil pointer
// dereference", with a data race on the mailbox: a CI failure of
// TestTxnTransactionVersion0). The hook holds that window open while the
// quorum actor sends the lifecycle a message.
func TestLifecycleSpawnWindow(t *testing.T) {
	var handled atomic.Bool
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.lifecycleSpawning = func(n *Node) {
			// The quorum actor hands routesPublished on to the controller
			// and the lifecycle; epoch -1 tells neither anything new.
			n.system.Root.Send(n.quorum, &routesPublished{epoch: -1})
			done := make(chan struct{})
			n.system.Root.Send(n.quorum, &describeQuorumLocal{req: kmsg.NewPtrDescribeQuorumRequest(),
				respond: func(kmsg.Response) { close(done) }})
			select {
			case <-done:
				handled.Store(true)
			case <-n.Failed():
			case <-time.After(30 * time.Second):
			}
		}
	})
	if !handled.Load() {
		t.Fatal("the quorum actor did not handle its messages while the lifecycle was spawned")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := newClient(t, n).Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Err(); err != nil {
		t.Fatal(err)
	}
}

package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// blockedCoordinator stands for a coordinator busy with its first message
// while requests queue behind it.
type blockedCoordinator struct{ busy, release chan struct{} }

func (b *blockedCoordinator) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(string); ok {
		close(b.busy)
		<-b.release
	}
}

// A group or transaction request still queued in a coordinator's mailbox
// when it stops is answered NOT_COORDINATOR (protoactor's own mailbox
// drops it without a word, and the client waited for its request timeout:
// with PropsFromProducer in place of coordinatorProps no answer comes).
func TestStoppedCoordinatorAnswersQueuedRequests(t *testing.T) {
	system := newActorSystem(zap.NewNop())
	b := &blockedCoordinator{busy: make(chan struct{}), release: make(chan struct{})}
	pid := system.Root.Spawn(coordinatorProps(func() actor.Actor { return b }, nil))
	system.Root.Send(pid, "busy")
	<-b.busy

	codes := make(chan int16, 3)
	system.Root.Send(pid, &txnRequest{body: &kmsg.EndTxnRequest{TransactionalID: "t"},
		respond: func(r kmsg.Response) { codes <- r.(*kmsg.EndTxnResponse).ErrorCode }})
	system.Root.Send(pid, &txnLocalAsk{ask: txnAsk{done: func(code int16) { codes <- code }}})
	system.Root.Send(pid, &groupRequest{body: &kmsg.HeartbeatRequest{Group: "g"},
		respond: func(r kmsg.Response) { codes <- r.(*kmsg.HeartbeatResponse).ErrorCode }})
	system.Root.Stop(pid)
	close(b.release)

	want := []int16{kerr.NotCoordinator.Code, kerr.NotEnoughReplicas.Code, kerr.NotCoordinator.Code}
	for i, w := range want {
		select {
		case got := <-codes:
			if got != w {
				t.Fatalf("answer %d: code %d, want %d", i, got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("answer %d of %d never came: the stopped coordinator dropped the queued request", i+1, len(want))
		}
	}
}

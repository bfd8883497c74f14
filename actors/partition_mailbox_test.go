package actors

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestReadQueuedBehindStopIsAnsweredAtOnce queues a Fetch read and a
// Produce in a partition actor's mailbox behind its stop (the actor is busy
// meanwhile, so the stop, a system message, is taken first): both are
// answered NOT_LEADER_OR_FOLLOWER as soon as the actor stopped. protoactor
// drops such messages, and a Fetch waited for its max wait plus the
// fan-out's 5 s slack.
func TestReadQueuedBehindStopIsAnsweredAtOnce(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "stopping"); err != nil {
		t.Fatal(err)
	}
	pid := n.routes.load().partition("stopping", 0)
	if pid == nil {
		t.Fatal("no partition actor routed for stopping-0")
	}
	// Hold the actor inside a message until the others are queued.
	release := holdPartitionActor(ctx, t, n, pid)
	fetched := make(chan fetchPartitionResult, 1)
	n.system.Root.Send(pid, &fetchPartition{fetchOffset: 0, maxBytes: 1 << 20, currentLeaderEpoch: -1,
		reply: func(res fetchPartitionResult) { fetched <- res }})
	produced := make(chan producePartitionResult, 1)
	n.system.Root.Send(pid, &producePartition{acks: 1, timeoutMs: 30_000, reply: func(res producePartitionResult) { produced <- res }})
	n.system.Root.Stop(pid)
	stoppedAt := time.Now()
	release()

	const within = 2 * time.Second
	deadline := time.After(within)
	for fetched != nil || produced != nil {
		select {
		case res := <-fetched:
			if res.errorCode != kerr.NotLeaderForPartition.Code || res.records != nil {
				t.Errorf("queued Fetch read answered with error %d (records %v), want NOT_LEADER_OR_FOLLOWER", res.errorCode, res.records != nil)
			}
			fetched = nil
		case res := <-produced:
			if res.errorCode != kerr.NotLeaderForPartition.Code {
				t.Errorf("queued Produce answered with error %d, want NOT_LEADER_OR_FOLLOWER", res.errorCode)
			}
			produced = nil
		case <-deadline:
			t.Fatalf("after %v the stopped partition actor answered the Fetch read: %v, the Produce: %v",
				within, fetched == nil, produced == nil)
		}
	}
	t.Logf("answered %v after the stop", time.Since(stoppedAt))
}

// holdPartitionActor keeps a partition actor inside a message until the
// returned release is called, so that the messages sent meanwhile wait in
// its mailbox together.
func holdPartitionActor(ctx context.Context, t *testing.T, n *Node, pid *actor.PID) (release func()) {
	t.Helper()
	entered, held := make(chan struct{}), make(chan struct{})
	n.system.Root.Send(pid, &logDirPartition{reply: func(int64) { close(entered); <-held }})
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the partition actor never took the blocking message")
	}
	return func() { close(held) }
}

package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/logstore/vfs"
)

// produceEach produces one record to every partition of topic and fails
// the test unless each is acknowledged before ctx ends.
func produceEach(ctx context.Context, t *testing.T, n *Node, topic string, partitions int32) {
	t.Helper()
	cl := newClient(t, n, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range partitions {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d: %v", topic, p, err)
		}
	}
}

// TestLogOpensDoNotWaitForRecovery restarts a node whose every recovery
// slot (LogRecoveryThreads, one) is held by a log being recovered, its
// directory listing held by the filesystem: meanwhile the logs it closed
// cleanly open and serve, a topic created now serves, and the second log
// that needs recovery waits for the slot. Then the held recovery ends and
// both recovered logs serve.
func TestLogOpensDoNotWaitForRecovery(t *testing.T) {
	dir := t.TempDir()
	const partitions = 2
	func() {
		n := startTestNode(t, dir, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := kadm.NewClient(newClient(t, n))
		for _, topic := range []string{"recovering", "clean"} {
			if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceEach(ctx, t, n, topic, partitions)
		}
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopCancel()
		if err := n.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
	}()
	// The recovering topic's logs lose their clean shutdown markers, as
	// after a crash.
	for p := range partitions {
		marker := filepath.Join(dir, fmt.Sprintf("recovering-%d", p), ".kafka_cleanshutdown")
		if err := os.Remove(marker); err != nil {
			t.Fatal(err)
		}
	}

	fsys := &blockingListFS{FS: vfs.OS, prefix: filepath.Join(dir, "recovering-"), release: make(chan struct{}), entered: make(chan struct{}, partitions)}
	n := startTestNode(t, dir, func(c *Config) { c.FS, c.LogRecoveryThreads = fsys, 1 })
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(fsys.release) }) }
	t.Cleanup(release) // before the node stops

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-fsys.entered:
	case <-ctx.Done():
		t.Fatal("no log recovery began")
	}
	produceEach(ctx, t, n, "clean", partitions)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, partitions, 1, nil, "fresh"); err != nil {
		t.Fatal(err)
	}
	produceEach(ctx, t, n, "fresh", partitions)
	if got := fsys.inFlight.Load(); got != 1 {
		t.Errorf("%d log recoveries under way with one recovery thread", got)
	}

	release()
	produceEach(ctx, t, n, "recovering", partitions)
	if h := fsys.highest.Load(); h != 1 {
		t.Errorf("%d log recoveries at once with one recovery thread", h)
	}
}

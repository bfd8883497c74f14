package actors

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// syncCountingFS is the OS filesystem counting directory syncs and
// filesystem syncs.
type syncCountingFS struct {
	vfs.FS
	syncDirs, syncFSs atomic.Int64
}

func (f *syncCountingFS) SyncDir(name string) error {
	f.syncDirs.Add(1)
	return f.FS.SyncDir(name)
}

func (f *syncCountingFS) SyncFS(dir string) error {
	f.syncFSs.Add(1)
	return f.FS.(vfs.FSSyncer).SyncFS(dir)
}

// A node stopping with many idle partitions makes their logs' clean
// shutdown markers durable with one filesystem sync, not a directory sync
// each (1,500 partitions spent ~1 s on those), and every log is clean at
// the next start.
func TestGracefulStopSyncsTheLogsMarkersOnce(t *testing.T) {
	dir := t.TempDir()
	const topic, partitions = "idle", 40
	stop := func(n *Node) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	n := startTestNode(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("kept")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	stop(n)

	fsys := &syncCountingFS{FS: vfs.OS}
	n = startTestNode(t, dir, func(c *Config) { c.FS = fsys })
	// The node answers before its partitions run: each log's open syncs
	// its directory once (removing its clean shutdown marker), which
	// would count as the stop's if it came after before is read.
	waitLogsOpen(t, n, topic, partitions)
	before := fsys.syncDirs.Load()
	stop(n)
	if got := fsys.syncDirs.Load() - before; got >= partitions/2 {
		t.Errorf("the stop synced %d directories for %d idle partitions: want their markers synced at once", got, partitions)
	}
	if got := fsys.syncFSs.Load(); got != 1 {
		t.Errorf("the stop synced the filesystem %d times, want once", got)
	}
	for p := range partitions {
		if logstore.NeedsRecovery(vfs.OS, filepath.Join(dir, fmt.Sprintf("%s-%d", topic, p))) {
			t.Errorf("partition %d has no clean shutdown marker after a graceful stop", p)
		}
	}
}

// waitLogsOpen waits until each of topic's partitions on n runs its actor
// (which opens the partition's log as it starts) and answers a message.
func waitLogsOpen(t *testing.T, n *Node, topic string, partitions int32) {
	t.Helper()
	for p := range partitions {
		waitFor(t, 30*time.Second, fmt.Sprintf("%s-%d's actor with its log open", topic, p), func() bool {
			pid := n.routes.load().partition(topic, p)
			if pid == nil {
				return false
			}
			answered := make(chan int64, 1)
			n.system.Root.Send(pid, &logDirPartition{reply: func(size int64) { answered <- size }})
			select {
			case <-answered:
				return true
			case <-time.After(time.Second):
				return false
			}
		})
	}
}

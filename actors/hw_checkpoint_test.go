package actors

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// waitForCheckpoint polls the checkpoint file at path until check accepts
// its content.
func waitForCheckpoint(t *testing.T, fsys vfs.FS, path string, what string, check func(map[logstore.TopicPartition]int64) bool) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	for {
		got, err := logstore.ReadOffsetCheckpointFile(fsys, path)
		if err != nil {
			t.Fatal(err)
		}
		if check(got) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("checkpoint never %s: %v", what, got)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Partitions start from the checkpointed high watermark, publish theirs, and
// leave the checkpoint when stopped for good, except while the node stops.
func TestHighWatermarkCheckpointWriter(t *testing.T) {
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("/data", logstore.ReplicationOffsetCheckpointFile)
	kept, gone, late := logstore.TopicPartition{Topic: "kept", Partition: 0}, logstore.TopicPartition{Topic: "gone", Partition: 3}, logstore.TopicPartition{Topic: "late", Partition: 1}
	if err := logstore.WriteOffsetCheckpointFile(fsys, path, map[logstore.TopicPartition]int64{kept: 7, gone: 2}); err != nil {
		t.Fatal(err)
	}
	h := startHighWatermarkCheckpoint(fsys, "/data", 10, zaptest.NewLogger(t))
	defer h.stop()
	keptHW, start := h.register(kept)
	if start != 7 {
		t.Fatalf("kept starts at %d, want the checkpointed 7", start)
	}
	goneHW, _ := h.register(gone)
	if _, start := h.register(late); start != 0 {
		t.Fatalf("a partition missing from the checkpoint starts at %d", start)
	}
	keptHW.Store(12)
	waitForCheckpoint(t, fsys, path, "took kept at 12", func(m map[logstore.TopicPartition]int64) bool {
		return len(m) == 3 && m[kept] == 12 && m[gone] == 2 && m[late] == 0
	})
	// A restarted actor gets what it published, not the old checkpoint.
	if again, start := h.register(kept); again != keptHW || start != 12 {
		t.Fatalf("restarted partition starts at %d", start)
	}
	h.forget(gone, goneHW)
	waitForCheckpoint(t, fsys, path, "dropped a deleted partition", func(m map[logstore.TopicPartition]int64) bool {
		_, ok := m[gone]
		return !ok && len(m) == 2
	})
	h.beginShutdown()
	h.forget(kept, keptHW)
	keptHW.Store(13)
	h.stop()
	got, err := logstore.ReadOffsetCheckpointFile(fsys, path)
	if err != nil || got[kept] != 13 || len(got) != 2 {
		t.Fatalf("after shutdown: %v %v; want kept at 13 and late", got, err)
	}
}

// A node writes its partitions' high watermarks every
// replica.high.watermark.checkpoint.interval.ms and at shutdown; a deleted
// topic leaves the checkpoint.
func TestNodeCheckpointsHighWatermarks(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, func(c *Config) { c.HighWatermarkCheckpointIntervalMs = 20 })
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"hw", "doomed"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hw", Partition: 1, Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, logstore.ReplicationOffsetCheckpointFile)
	hw1, doomed0 := logstore.TopicPartition{Topic: "hw", Partition: 1}, logstore.TopicPartition{Topic: "doomed", Partition: 0}
	waitForCheckpoint(t, vfs.OS, path, "took hw-1 at 5", func(m map[logstore.TopicPartition]int64) bool {
		_, ok := m[doomed0]
		return m[hw1] == 5 && ok && len(m) == 4
	})
	if _, err := adm.DeleteTopics(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	waitForCheckpoint(t, vfs.OS, path, "dropped the deleted topic", func(m map[logstore.TopicPartition]int64) bool {
		_, ok := m[doomed0]
		return !ok && len(m) == 2
	})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "hw", Partition: 1, Value: []byte("last")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	got, err := logstore.ReadOffsetCheckpointFile(vfs.OS, path)
	if err != nil || got[hw1] != 6 || len(got) != 2 {
		t.Fatalf("checkpoint after shutdown: %v %v; want hw-0 at 0 and hw-1 at 6", got, err)
	}
}

package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
	"pgregory.net/rapid"

	"gregor/cluster"
	"gregor/logstore/vfs"
)

// topicCreation is the records of a single-partition topic on node 1.
func topicCreation(name string, id byte) []cluster.MetadataRecord {
	tid := cluster.TopicID{15: id}
	return []cluster.MetadataRecord{cluster.TopicRecord{Name: name, TopicID: tid},
		cluster.PartitionRecord{TopicID: tid, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}
}

// newDataDir makes /data on an in-memory filesystem, durably.
func newDataDir(t testing.TB, opts ...vfs.MemOption) *vfs.Mem {
	mem := vfs.NewMem(opts...)
	if err := mem.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mem.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return mem
}

func appendTopic(t testing.TB, s *metadataStore, name string, id byte) (*cluster.MetadataImage, error) {
	recs := topicCreation(name, id)
	next, err := s.image().Apply(recs...)
	if err != nil {
		t.Fatal(err)
	}
	return next, s.append(recs, next)
}

// TestMetadataStoreSurvivesCrash: after a crash at any moment (unsynced
// writes lost or torn), the log reopens with every batch whose append
// returned, and takes appends again.
func TestMetadataStoreSurvivesCrash(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mem := newDataDir(t, vfs.WithTornWrites(rapid.Uint64().Draw(rt, "seed")))
		s, err := openMetadataStore(mem, "/data", 1, zaptest.NewLogger(t))
		if err != nil {
			rt.Fatal(err)
		}
		s.limit = int64(rapid.IntRange(0, 2000).Draw(rt, "compaction limit"))
		mem.CrashAfterOps(rapid.Int64Range(0, 60).Draw(rt, "ops"))
		acked := 0
		for i := range 10 {
			if _, err := appendTopic(t, s, fmt.Sprintf("t%d", i), byte(i+1)); err != nil {
				break
			}
			acked++
		}
		mem.Crash()
		back, err := openMetadataStore(mem, "/data", 1, zaptest.NewLogger(t))
		if err != nil {
			rt.Fatalf("reopen after %d appends: %v", acked, err)
		}
		if got := back.image().TopicCount(); got < acked {
			rt.Fatalf("%d topics after a crash, %d appends had returned", got, acked)
		}
		if _, err := appendTopic(t, back, "after", 99); err != nil {
			rt.Fatalf("append after reopening: %v", err)
		}
		again, err := openMetadataStore(mem, "/data", 1, zaptest.NewLogger(t))
		if err != nil || again.image().TopicCount() != back.image().TopicCount() {
			rt.Fatalf("third open: %v", err)
		}
	})
}

func TestMetadataStoreCompacts(t *testing.T) {
	mem := newDataDir(t)
	s, err := openMetadataStore(mem, "/data", 1, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.limit = 0 // compact after every append
		if _, err := appendTopic(t, s, fmt.Sprintf("t%d", i), byte(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := readWholeFile(mem, "/data/"+metadataLogFile)
	if err != nil {
		t.Fatal(err)
	}
	if b, n, err := cluster.DecodeMetadataBatch(p); err != nil || !b.Snapshot || n != len(p) || b.Epoch != 10 {
		t.Fatalf("compacted log: %+v, %d of %d bytes, %v", b, n, len(p), err)
	}
	back, err := openMetadataStore(mem, "/data", 1, zaptest.NewLogger(t))
	if err != nil || fmt.Sprint(back.image().TopicNames()) != "[t0 t1 t2 t3 t4]" || back.image().Epoch != 10 {
		t.Fatalf("reopened: %v %v", err, back.image().TopicNames())
	}
}

// TestLegacyMetadataFileMoved: the JSON snapshot of an older version is read
// (version 1 as this node's partitions) and moved into the metadata log.
func TestLegacyMetadataFileMoved(t *testing.T) {
	mem := newDataDir(t)
	v1 := `{"version": 1, "epoch": 3, "topics": [{"Name": "old", "ID": "00000000-0000-0000-0000-000000000007", "Partitions": 2, "ReplicationFactor": 1, "Configs": {"retention.ms": "5"}}]}`
	if err := vfs.WriteFileAtomic(mem, "/data/"+legacyMetadataFile, []byte(v1)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := openMetadataStore(mem, "/data", 4, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		old, ok := s.image().Topic("old")
		if !ok || old.PartitionCount() != 2 || old.Partitions[1].Leader != 4 || old.Configs["retention.ms"] != "5" || s.image().Epoch != 3 {
			t.Fatalf("old = %+v", old)
		}
		if _, err := mem.Stat("/data/" + legacyMetadataFile); !os.IsNotExist(err) {
			t.Fatalf("the JSON snapshot is still there: %v", err)
		}
		_ = s.close()
	}
}

// TestNodeStartsFromLegacyDataDirectory: a data directory written before the
// metadata log starts with its topics, ids and records.
func TestNodeStartsFromLegacyDataDirectory(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("kept"), kgo.AllowAutoTopicCreation())
	for i := range 3 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	kept, _ := n.routes.load().image.Topic("kept")
	cl.Close()
	stopNode(t, n)
	// What main wrote before: version 2 of the JSON snapshot, no log.
	v2 := fmt.Sprintf(`{"version": 2, "epoch": 2, "topics": [{"Name": "kept", "ID": %q,
	  "Partitions": [{"Partition": 0, "Replicas": [1], "ISR": [1], "Leader": 1, "LeaderEpoch": 0, "PartitionEpoch": 0}],
	  "ReplicationFactor": 1, "Configs": {}}]}`, kept.ID)
	if err := os.Remove(filepath.Join(dir, metadataLogFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, legacyMetadataFile), []byte(v2), 0o644); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	if got, ok := n2.routes.load().image.Topic("kept"); !ok || got.ID != kept.ID {
		t.Fatalf("kept after the restart: %+v", got)
	}
	if vals := kgoRecordValues(t, n2, "kept", 3); fmt.Sprint(vals) != "[0 1 2]" {
		t.Fatalf("records %v", vals)
	}
}

// stopNode stops a node and fails the test on error.
func stopNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// kgoRecordValues reads every record of a topic from the start.
func kgoRecordValues(t *testing.T, n *Node, topic string, want int) []string {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var vals []string
	for len(vals) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records of %s", len(vals), want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	return vals
}

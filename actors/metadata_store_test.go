package actors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"

	"gregor/cluster"
	"gregor/logstore/raftlog"
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

// singleNodeLog is a single node's metadata log as it was before the
// metadata quorum: a snapshot batch, then a batch per topic.
func singleNodeLog(topics ...string) []byte {
	log := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true})
	img := cluster.NewMetadataImage()
	for i, name := range topics {
		recs := topicCreation(name, byte(i+1))
		log = cluster.AppendMetadataBatch(log, cluster.MetadataBatch{Epoch: img.Epoch, Records: recs})
		img, _ = img.Apply(recs...)
	}
	return log
}

// A single node's metadata log is read whole (a torn last batch cut off),
// and so is the JSON snapshot before it, version 1 as this node's
// partitions.
func TestReadSingleNodeMetadata(t *testing.T) {
	mem := newDataDir(t)
	log := singleNodeLog("a", "b")
	torn := append(bytes.Clone(log), singleNodeLog("c")[:10]...)
	if err := vfs.WriteFileAtomic(mem, "/data/"+metadataLogFile, torn); err != nil {
		t.Fatal(err)
	}
	m, err := readSingleNodeMetadata(mem, "/data", 1)
	if err != nil || fmt.Sprint(m.image.TopicNames()) != "[a b]" || len(m.files) != 1 || m.empty() {
		t.Fatalf("read %+v: %v", m, err)
	}

	mem = newDataDir(t)
	v1 := `{"version": 1, "epoch": 3, "topics": [{"Name": "old", "ID": "00000000-0000-0000-0000-000000000007", "Partitions": 2, "ReplicationFactor": 1, "Configs": {"retention.ms": "5"}}]}`
	if err := vfs.WriteFileAtomic(mem, "/data/"+legacyMetadataFile, []byte(v1)); err != nil {
		t.Fatal(err)
	}
	m, err = readSingleNodeMetadata(mem, "/data", 4)
	if err != nil {
		t.Fatal(err)
	}
	old, ok := m.image.Topic("old")
	if !ok || old.PartitionCount() != 2 || old.Partitions[1].Leader != 4 || old.Configs["retention.ms"] != "5" || m.image.Epoch != 3 {
		t.Fatalf("old = %+v", old)
	}

	m, err = readSingleNodeMetadata(newDataDir(t), "/data", 1)
	if err != nil || len(m.files) != 0 || !m.empty() {
		t.Fatalf("nothing read as %+v: %v", m, err)
	}
}

// TestNodeMigratesSingleNodeLog: a data directory of a single node from
// before the metadata quorum starts with its topics and cluster id; the old
// log is gone, and the node starts again from the quorum's log.
func TestNodeMigratesSingleNodeLog(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metadataLogFile), singleNodeLog("a", "b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeMetaProperties(vfs.OS, dir, 1, "old-cluster-id"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		n := startTestNode(t, dir, nil)
		img := n.routes.load().image
		if fmt.Sprint(img.TopicNames()) != "[a b]" || n.ClusterID() != "old-cluster-id" || img.ClusterID() != "old-cluster-id" {
			t.Fatalf("topics %v, cluster %q (image %q)", img.TopicNames(), n.ClusterID(), img.ClusterID())
		}
		if _, err := os.Stat(filepath.Join(dir, metadataLogFile)); !os.IsNotExist(err) {
			t.Fatalf("the single-node log is still there: %v", err)
		}
		waitFor(t, 10*time.Second, "a-0 to be led here", func() bool { return n.routes.load().partition("a", 0) != nil })
		stopNode(t, n)
	}
}

// A single node's metadata cannot seed a quorum of several voters, and a
// directory of a formed cluster that lost its metadata log never starts a
// new quorum: both refused with what to do.
func TestMetadataDirectoriesRefused(t *testing.T) {
	voters := func(c *Config) {
		c.QuorumVoters = []QuorumVoter{{1, "127.0.0.1:1"}, {2, "127.0.0.1:2"}, {3, "127.0.0.1:3"}}
		c.ControllerListenAddress = "127.0.0.1:0"
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, metadataLogFile), singleNodeLog("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testNodeConfig(dir)
	voters(&cfg)
	if _, err := Start(context.Background(), cfg, zaptest.NewLogger(t)); err == nil || !strings.Contains(err.Error(), "without controller.quorum.voters") {
		t.Fatalf("single-node metadata in a quorum of three: %v", err)
	}

	dir = t.TempDir()
	n := startTestNode(t, dir, nil)
	id := n.ClusterID()
	stopNode(t, n)
	if err := os.RemoveAll(filepath.Join(dir, raftlog.DirName)); err != nil {
		t.Fatal(err)
	}
	cfg = testNodeConfig(dir)
	if _, err := Start(context.Background(), cfg, zaptest.NewLogger(t)); err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "never starts a new metadata quorum") {
		t.Fatalf("a formed cluster's directory without its log: %v", err)
	}
}

// TestNodeStartsFromLegacyDataDirectory: a data directory written before the
// metadata log (the JSON snapshot) starts with its topics, ids and records.
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
	// What main wrote two versions ago: version 2 of the JSON snapshot.
	v2 := fmt.Sprintf(`{"version": 2, "epoch": 2, "topics": [{"Name": "kept", "ID": %q,
	  "Partitions": [{"Partition": 0, "Replicas": [1], "ISR": [1], "Leader": 1, "LeaderEpoch": 0, "PartitionEpoch": 0}],
	  "ReplicationFactor": 1, "Configs": {}}]}`, kept.ID)
	if err := os.RemoveAll(filepath.Join(dir, raftlog.DirName)); err != nil {
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

// A node whose meta.properties names another cluster than its metadata log
// is refused: it fails instead of serving.
func TestMetaPropertiesOfAnotherClusterRefused(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	stopNode(t, n)
	if err := writeMetaProperties(vfs.OS, dir, 1, "another-cluster"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, testNodeConfig(dir), zaptest.NewLogger(t))
	if err == nil {
		stopNode(t, n)
		t.Fatal("a node of another cluster started")
	}
	if !strings.Contains(err.Error(), "names cluster another-cluster") {
		t.Fatalf("refused with: %v", err)
	}
}

// metadata.log.dir places the metadata log (and a meta.properties of its
// own) in another directory than log.dirs; the node restarts from it. A
// node whose metadata.log.dir names no metadata log of its cluster, or
// another cluster's, refuses to start.
func TestMetadataLogDir(t *testing.T) {
	data, meta := t.TempDir(), t.TempDir()
	n := startTestNode(t, data, func(c *Config) { c.MetadataLogDir = meta })
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(testContext(t, 30*time.Second), 1, 1, nil, "kept"); err != nil {
		t.Fatal(err)
	}
	clusterID := n.ClusterID()
	stopNode(t, n)
	if _, err := os.Stat(filepath.Join(meta, raftlog.DirName)); err != nil {
		t.Fatalf("no metadata log in metadata.log.dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, raftlog.DirName)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a metadata log in log.dirs too: %v", err)
	}
	for _, dir := range []string{data, meta} {
		if id, err := readMetaProperties(vfs.OS, dir, 1); err != nil || id != clusterID {
			t.Fatalf("%s names cluster %q (%v), want %s", filepath.Join(dir, metaPropertiesFile), id, err, clusterID)
		}
	}
	n = startTestNode(t, data, func(c *Config) { c.MetadataLogDir = meta })
	if got := n.routes.load().image.TopicNames(); fmt.Sprint(got) != "[kept]" {
		t.Fatalf("topics after the restart: %v", got)
	}
	stopNode(t, n)

	start := func(metadataLogDir string) error {
		cfg := testNodeConfig(data)
		cfg.MetadataLogDir = metadataLogDir
		n, err := Start(context.Background(), cfg, zaptest.NewLogger(t))
		if err == nil {
			stopNode(t, n)
		}
		return err
	}
	if err := start(t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds no metadata log") {
		t.Fatalf("a metadata.log.dir without the metadata log: %v, want a refusal", err)
	}
	other := t.TempDir()
	if err := writeMetaProperties(vfs.OS, other, 1, "another-cluster"); err != nil {
		t.Fatal(err)
	}
	if err := start(other); err == nil || !strings.Contains(err.Error(), "belongs to cluster another-cluster") {
		t.Fatalf("a metadata.log.dir of another cluster: %v, want a refusal", err)
	}
	// Another node's directory: the refusal says what to do.
	if err := writeMetaProperties(vfs.OS, other, 2, "another-cluster"); err != nil {
		t.Fatal(err)
	}
	if err := start(other); err == nil || !strings.Contains(err.Error(), "belongs to node.id 2, this node is 1: give each node a directory of its own") ||
		!strings.Contains(err.Error(), "--set node.id=2") {
		t.Fatalf("a metadata.log.dir of node 2: %v, want a refusal that says what to do", err)
	}
}

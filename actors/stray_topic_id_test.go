package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/logstore/vfs"
)

// strayDirsOf lists the directories of dataDir renamed aside from name.
func strayDirsOf(t *testing.T, dataDir, name string) []string {
	t.Helper()
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name+".") && strings.HasSuffix(e.Name(), strayDirSuffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// recordedID is the topic id the partition directory dir records.
func recordedID(t *testing.T, dir string) cluster.TopicID {
	t.Helper()
	id, ok, err := logstore.ReadPartitionMetadata(vfs.OS, dir)
	if err != nil || !ok {
		t.Fatalf("%s records no topic id: %v", dir, err)
	}
	return id
}

// A partition directory the node hosts by name that holds another topic's
// log (it records that topic's id) is stray when the node starts: renamed
// aside with its data kept, and the hosted topic's replica starts empty
// instead of serving the other topic's records.
func TestPartitionDirOfAnotherTopicRenamedAsideAtStart(t *testing.T) {
	c := newTestCluster(t, 1, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.createAssigned(0, "kept", []int32{1}, "1")
	c.createAssigned(0, "other", []int32{1}, "1")
	producePrefixed(ctx, t, newClient(t, c.node(0)), "kept", "old", 5)
	dataDir := c.cfgs[0].DataDir
	keptID := recordedID(t, filepath.Join(dataDir, "kept-0"))
	c.stop(0, true)
	otherDir := filepath.Join(dataDir, "other-0")
	if err := os.RemoveAll(otherDir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(otherDir, os.DirFS(filepath.Join(dataDir, "kept-0"))); err != nil {
		t.Fatal(err)
	}
	if err := c.tryStart(0); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("other", 1)
	stray := strayDirsOf(t, dataDir, "other-0")
	if len(stray) != 1 {
		t.Fatalf("renamed stray directories %v, want one other-0.*-stray", stray)
	}
	if id := recordedID(t, filepath.Join(dataDir, stray[0])); id != keptID {
		t.Fatalf("the stray directory records %v, want kept's %v", id, keptID)
	}
	producePrefixed(ctx, t, newClient(t, c.node(0)), "other", "new", 2)
	readOnly(ctx, t, newClient(t, c.node(0), kgo.ConsumeTopics("other"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:new-0", "1:new-1")
	readOnly(ctx, t, newClient(t, c.node(0), kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:old-0", "1:old-1", "2:old-2", "3:old-3", "4:old-4")
}

// A replica that finds, when it opens its log, another topic's log in its
// directory (here one that appeared under the name of a topic created
// later, with the node running, so no startup check saw it) never opens it
// as its own: the directory goes aside and the replica starts empty.
func TestReplicaRenamesAsideAnotherTopicsLog(t *testing.T) {
	c := newTestCluster(t, 1, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.createAssigned(0, "kept", []int32{1}, "1")
	producePrefixed(ctx, t, newClient(t, c.node(0)), "kept", "old", 5)
	dataDir := c.cfgs[0].DataDir
	if err := os.CopyFS(filepath.Join(dataDir, "fresh-0"), os.DirFS(filepath.Join(dataDir, "kept-0"))); err != nil {
		t.Fatal(err)
	}
	c.createAssigned(0, "fresh", []int32{1}, "1")
	producePrefixed(ctx, t, newClient(t, c.node(0)), "fresh", "new", 2)
	readOnly(ctx, t, newClient(t, c.node(0), kgo.ConsumeTopics("fresh"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:new-0", "1:new-1")
	if stray := strayDirsOf(t, dataDir, "fresh-0"); len(stray) != 1 {
		t.Fatalf("renamed stray directories %v, want one fresh-0.*-stray", stray)
	}
	tp, _ := c.node(0).routes.load().image.Topic("fresh")
	if id := recordedID(t, filepath.Join(dataDir, "fresh-0")); id != tp.ID {
		t.Fatalf("fresh-0 records %v, want the topic's %v", id, tp.ID)
	}
}

// A topic deleted and created again under its name while a broker hosting
// one of its replicas is down, the broker coming back without the metadata
// it had (its metadata.log.dir lost, here: it catches up from a snapshot
// that holds only the new topic, so no image it reads shows the old topic
// go): its directory of the old topic records the old id, is renamed aside
// with its data kept, and its replica of the new topic starts empty and
// fetches from the leader. Every replica then holds exactly the new
// records, the broker's too when it leads.
func TestTopicRecreatedWhileABrokerWasDownAndLostItsMetadata(t *testing.T) {
	c := newTestCluster(t, 3, 1, func(i int, cfg *Config) {
		cfg.MetadataSnapshotIntervalBytes = 1
		if i == 3 {
			cfg.MetadataLogDir = filepath.Join(t.TempDir(), "metadata")
		}
	})
	c.startAll()
	ctx := testContext(t, 90*time.Second)
	c.createAssigned(0, "again", []int32{4, 1, 2}, "1")
	cl := newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	producePrefixed(ctx, t, cl, "again", "old", 5)
	c.waitReplicasIdentical(0, "again", 1)
	dataDir := c.cfgs[3].DataDir
	// Read without failing: a build that records no id fails below, on
	// the replicas' contents.
	oldID, _, _ := logstore.ReadPartitionMetadata(vfs.OS, filepath.Join(dataDir, "again-0"))

	c.stop(3, false)
	waitFor(t, 30*time.Second, "broker 4 to be fenced", func() bool {
		b, ok := c.node(0).routes.load().image.Broker(4)
		return ok && b.Fenced
	})
	if resp, err := c.admin(0).DeleteTopics(ctx, "again"); err != nil || resp["again"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	waitFor(t, 10*time.Second, "the name to be free with broker 4 down", func() bool {
		return createAssignedRaw(ctx, t, cl, "again", []int32{4, 1, 2}) == 0
	})
	c.waitForTopic("again", 1)
	producePrefixed(ctx, t, newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner())), "again", "new", 3)
	if err := os.RemoveAll(c.cfgs[3].MetadataLogDir); err != nil {
		t.Fatal(err)
	}
	// The same quorum leader leads: it sends the broker a snapshot once
	// the broker says its log is gone (cluster/quorum/lost_log.go).
	if err := c.tryStart(3); err != nil {
		t.Fatal(err)
	}
	c.waitReplicasIdentical(0, "again", 1)
	stray := strayDirsOf(t, dataDir, "again-0")
	if len(stray) != 1 {
		t.Fatalf("renamed stray directories %v, want one again-0.*-stray", stray)
	}
	if id := recordedID(t, filepath.Join(dataDir, stray[0])); id != cluster.TopicID(oldID) {
		t.Fatalf("the stray directory records %v, want the old topic's %v", id, oldID)
	}
	tp, _ := c.node(0).routes.load().image.Topic("again")
	if id := recordedID(t, filepath.Join(dataDir, "again-0")); id != tp.ID {
		t.Fatalf("again-0 records %v, want the new topic's %v", id, tp.ID)
	}
	c.electPreferred(ctx, cl, "again", 4)
	for i := range 4 {
		readOnly(ctx, t, newClient(t, c.node(i), kgo.ConsumeTopics("again"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
			"0:new-0", "1:new-1", "2:new-2")
	}
}

// electPreferred runs preferred leader elections for partition 0 of topic
// until node id leads it.
func (c *testCluster) electPreferred(ctx context.Context, cl *kgo.Client, topic string, id int32) {
	c.t.Helper()
	el := kmsg.NewPtrElectLeadersRequest()
	et := kmsg.NewElectLeadersRequestTopic()
	et.Topic, et.Partitions = topic, []int32{0}
	el.Topics, el.TimeoutMillis = append(el.Topics, et), 10_000
	waitFor(c.t, 30*time.Second, fmt.Sprintf("broker %d to lead %s", id, topic), func() bool {
		if _, err := el.RequestWith(ctx, cl); err != nil {
			c.t.Fatal(err)
		}
		tp, ok := c.node(0).routes.load().image.Topic(topic)
		return ok && tp.Partitions[0].Leader == id
	})
}

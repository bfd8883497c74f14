package actors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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

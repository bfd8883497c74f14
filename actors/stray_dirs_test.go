package actors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A partition directory the metadata gives the node no replica of (here the
// copy of a replica's data under the name of a topic the cluster never had,
// as a crash between a deletion and the directory's rename, or a topic
// created and deleted in one batch a restarted node read at once, leaves
// it) is renamed aside when the node starts, with its data kept: a topic
// created later under that name starts empty instead of adopting the old
// records. The node's own replicas keep theirs.
func TestStrayPartitionDirRenamedAside(t *testing.T) {
	c := newTestCluster(t, 1, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.createAssigned(0, "kept", []int32{1}, "1")
	producePrefixed(ctx, t, newClient(t, c.node(0)), "kept", "old", 5)
	dataDir := c.cfgs[0].DataDir
	c.stop(0, true)
	if err := os.CopyFS(filepath.Join(dataDir, "ghost-0"), os.DirFS(filepath.Join(dataDir, "kept-0"))); err != nil {
		t.Fatal(err)
	}
	if err := c.tryStart(0); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("kept", 1)
	if _, err := os.Stat(filepath.Join(dataDir, "ghost-0")); !os.IsNotExist(err) {
		t.Fatalf("ghost-0 still there: %v", err)
	}
	names, _ := os.ReadDir(dataDir)
	var stray []string
	for _, e := range names {
		if strings.HasPrefix(e.Name(), "ghost-0.") && strings.HasSuffix(e.Name(), strayDirSuffix) {
			stray = append(stray, e.Name())
		}
	}
	if len(stray) != 1 {
		t.Fatalf("renamed stray directories %v, want one ghost-0.*-stray", stray)
	}
	c.createAssigned(0, "ghost", []int32{1}, "1")
	cl := newClient(t, c.node(0))
	producePrefixed(ctx, t, cl, "ghost", "new", 2)
	readOnly(ctx, t, newClient(t, c.node(0), kgo.ConsumeTopics("ghost"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:new-0", "1:new-1")
	readOnly(ctx, t, newClient(t, c.node(0), kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:old-0", "1:old-1", "2:old-2", "3:old-3", "4:old-4")
}

// A metadata.log.dir inside the data directory named like a partition's
// (meta-1) is no stray: the node starts again on it.
func TestMetadataLogDirNamedLikeAPartitionIsNoStray(t *testing.T) {
	c := newTestCluster(t, 1, 0, func(_ int, cfg *Config) { cfg.MetadataLogDir = filepath.Join(cfg.DataDir, "meta-1") })
	c.startAll()
	c.createAssigned(0, "kept", []int32{1}, "1")
	c.stop(0, true)
	if err := c.tryStart(0); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("kept", 1)
	names, _ := os.ReadDir(c.cfgs[0].DataDir)
	for _, e := range names {
		if strings.HasSuffix(e.Name(), strayDirSuffix) {
			t.Errorf("%s renamed aside", e.Name())
		}
	}
	if _, err := os.Stat(c.cfgs[0].MetadataLogDir); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/IBM/sarama"
)

// gregor cluster up --set metadata.log.dir=D gives node I the metadata log
// directory D/node-I (one directory for all would be locked by the first
// node, and the others would stop), and each node's DescribeLogDirs, as
// sarama's admin asks it, lists that directory beside its data directory.
func TestClusterUpGivesEachNodeItsMetadataLogDir(t *testing.T) {
	meta := t.TempDir()
	c := clusterUp(t, 3, "metadata.log.dir="+meta)
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(filepath.Join(meta, fmt.Sprintf("node-%d", i), "__cluster_metadata")); err != nil {
			t.Fatalf("node %d's metadata log: %v", i, err)
		}
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_7_0_0
	adm, err := sarama.NewClusterAdmin(c.bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	dirs, err := adm.DescribeLogDirs([]int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := int32(1); i <= 3; i++ {
		want := map[string]bool{
			filepath.Join(c.dir, fmt.Sprintf("node-%d", i), "data"): true,
			filepath.Join(meta, fmt.Sprintf("node-%d", i)):          true,
		}
		got := map[string]bool{}
		for _, d := range dirs[i] {
			if d.ErrorCode != sarama.ErrNoError {
				t.Errorf("node %d dir %s: %v", i, d.Path, d.ErrorCode)
			}
			got[d.Path] = true
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("node %d log dirs %v, want %v", i, got, want)
		}
	}
}

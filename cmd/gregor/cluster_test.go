package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStoppedLocalCluster runs cluster down and cluster status over the
// directory of a cluster none of whose nodes runs (node 2's pid file names
// a process gone): down says there is nothing to stop, and status says to
// start the cluster instead of retrying its brokers until --timeout.
func TestStoppedLocalCluster(t *testing.T) {
	dir := t.TempDir()
	c := localCluster{dir: dir, nodes: 3, basePort: 1}
	if err := os.MkdirAll(c.nodeDir(2), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.record(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.pidFile(2), []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	down := mustRun(t, "", "cluster", "down", "--dir", dir)
	if want := "no node of the cluster in " + dir + " runs\n"; down.stdout != want {
		t.Errorf("cluster down printed %q, want %q", down.stdout, want)
	}
	mustFail(t, "", []string{"cluster", "status", "--dir", dir, "--timeout", "1s"},
		"no node of the cluster in "+dir+" runs: start it with gregor cluster up --dir "+dir)
	if _, err := os.Stat(filepath.Join(dir, clusterFile)); err != nil {
		t.Errorf("the cluster's record is gone: %v", err)
	}
}

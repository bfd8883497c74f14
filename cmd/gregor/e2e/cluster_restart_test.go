package e2e

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gregor cluster up over a cluster's directory while one node was killed
// starts that node alone, with the settings the cluster was started with,
// and it rejoins; the running nodes are left as they are; a different
// layout is refused while nodes run; with every node running it starts
// nothing.
func TestClusterUpRestartsAKilledNode(t *testing.T) {
	c := clusterUp(t, 3, "log.retention.ms=7200000")
	pid1, pid2, pid3 := c.pid(1), c.pid(2), c.pid(3)
	c.killAll(t, 2)
	waitFor(t, 20*time.Second, "node 2's process gone", func() bool { return syscall.Kill(pid2, 0) != nil })

	if out, err := gregor(t, "cluster", "up", "--dir", c.dir, "--nodes", "4"); err == nil || !strings.Contains(out, "nodes 1, 3 of the cluster") || !strings.Contains(out, "--set log.retention.ms=7200000") {
		t.Fatalf("cluster up --nodes 4 over a running 3-node cluster: err %v, output:\n%s", err, out)
	}
	out, err := gregor(t, "cluster", "up", "--dir", c.dir)
	if err != nil || !strings.Contains(out, "started node 2 of the cluster") || !strings.Contains(out, "bootstrap: "+strings.Join(c.bootstrap(), ",")) {
		t.Fatalf("cluster up over the cluster with node 2 killed: err %v, output:\n%s", err, out)
	}
	if c.pid(1) != pid1 || c.pid(3) != pid3 {
		t.Fatalf("the running nodes were restarted: pids %d, %d became %d, %d", pid1, pid3, c.pid(1), c.pid(3))
	}
	if c.pid(2) == pid2 {
		t.Fatalf("node 2's pid file still names the killed process %d", pid2)
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid(2)) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cmdline), "log.retention.ms=7200000") {
		t.Fatalf("node 2 restarted without the cluster's settings: %q", cmdline)
	}
	md, err := c.metadata(2)
	if err != nil || len(md.Brokers) != 3 {
		t.Fatalf("node 2 after its restart: err %v, metadata %+v", err, md)
	}

	out, err = gregor(t, "cluster", "up", "--dir", c.dir)
	if err != nil || !strings.Contains(out, "all 3 nodes of the cluster") {
		t.Fatalf("cluster up with every node running: err %v, output:\n%s", err, out)
	}
	if c.pid(1) != pid1 || c.pid(3) != pid3 {
		t.Fatalf("cluster up with every node running restarted some")
	}
}

// gregor cluster up over a cluster two of whose three nodes were killed,
// one of which cannot start again (its client port taken, as by a
// client's connection in the kernel's range for outgoing connections),
// keeps the other it started running, and says so: stopping it too left
// one node of three, no metadata quorum, and every client stalled.
func TestClusterUpKeepsTheNodesThatStart(t *testing.T) {
	c := clusterUp(t, 3)
	pid2 := c.pid(2)
	c.killAll(t, 1, 2)
	waitFor(t, 20*time.Second, "node 2's process gone", func() bool { return syscall.Kill(pid2, 0) != nil })
	taken, err := net.Listen("tcp", c.addr(1))
	if err != nil {
		t.Fatal(err)
	}
	out, err := gregor(t, "cluster", "up", "--dir", c.dir)
	taken.Close()
	if err == nil || !strings.Contains(out, "node 1 exited") || !strings.Contains(out, "node 2 of the cluster in "+c.dir+" started and keep running") {
		t.Fatalf("cluster up with node 1's port taken: err %v, output:\n%s", err, out)
	}
	if syscall.Kill(c.pid(2), 0) != nil {
		t.Fatal("node 2 was stopped though it started")
	}
	waitFor(t, 30*time.Second, "nodes 2 and 3 serving metadata", func() bool {
		md, err := c.metadata(2)
		return err == nil && md.ControllerID > 0
	})
	out, err = gregor(t, "cluster", "up", "--dir", c.dir)
	if err != nil || !strings.Contains(out, "started node 1 of the cluster") {
		t.Fatalf("cluster up once node 1's port is free: err %v, output:\n%s", err, out)
	}
}

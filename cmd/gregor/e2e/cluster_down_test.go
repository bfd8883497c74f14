package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterDownLastNodeStopsPromptly stops a 3-node cluster's nodes as an
// operator taking it down node by node does: nodes 1 and 3 first, each
// with SIGTERM, then cluster down for node 2. Node 2, the last broker, led
// partitions and had lost its metadata quorum with the others, so no
// controller could answer its controlled shutdown: it waited out the
// controlled shutdown timeout (broker.session.timeout.ms, 30 s here) before
// it stopped. Its metadata shows no other active broker, so nothing could
// take its leadership: it stops after one heartbeat interval now, and stops
// gossip without a leave nobody would hear.
func TestClusterDownLastNodeStopsPromptly(t *testing.T) {
	const topic = "down"
	c := clusterUp(t, 3, "broker.session.timeout.ms=30000")
	c.createTopics(t, 6, topic)
	c.produceAcked(t, topic, 6, 10)
	for _, i := range []int{1, 3} {
		pid := c.pid(i)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); processRuns(pid); {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("node %d still runs 60 s after SIGTERM", i)
			}
			time.Sleep(10 * time.Millisecond) // polling a process's exit; nothing to wait on
		}
	}
	start := time.Now()
	if out, err := gregor(t, "cluster", "down", "--dir", c.dir, "--timeout", "60s"); err != nil || !strings.Contains(out, "node 2 stopped") {
		t.Fatalf("cluster down: %v\n%s", err, out)
	}
	took := time.Since(start)
	log, err := os.ReadFile(c.logFile(2))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "shutting-down") || strings.Contains(l, "node stopped") {
			lines = append(lines, l)
		}
	}
	t.Logf("cluster down took %v; node 2:\n%s", took.Round(time.Millisecond), strings.Join(lines, "\n"))
	if strings.Contains(string(log), "the controlled shutdown took more than") {
		t.Fatal("node 2 waited out its controlled shutdown timeout")
	}
	if took > 15*time.Second {
		t.Fatalf("cluster down took %v to stop the last node", took.Round(time.Millisecond))
	}
	// Node 1 stopped while nodes 2 and 3 were active: it left gossip, so
	// they learnt it at once. Node 2 had nobody to tell: it stopped gossip
	// without a leave (one whose peers are gone or going waits out serf's
	// broadcast timeout), and said so as news, not as a warning.
	first, err := os.ReadFile(c.logFile(1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(first), "EventMemberLeave: gregor-1 ") {
		t.Error("node 1 stopped without leaving gossip while nodes 2 and 3 were active")
	}
	if strings.Contains(string(log), "EventMemberLeave: gregor-2 ") {
		t.Error("node 2, the last broker, left gossip")
	}
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "Shutdown without a Leave") && !strings.Contains(l, "\tINFO\t") {
			t.Errorf("node 2 warned of its shutdown without a leave: %s", l)
		}
	}
}

package e2e

import (
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ledByPreferred reports whether every partition of topic in md is led by
// its preferred replica (the first of its replicas), and how many are not.
func ledByPreferred(md *kmsg.MetadataResponse, topic string) (bool, int) {
	off, seen := 0, false
	for _, t := range md.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		for _, p := range t.Partitions {
			seen = true
			if len(p.Replicas) == 0 || p.Leader != p.Replicas[0] {
				off++
			}
		}
	}
	return seen && off == 0, off
}

// TestLeadershipReturnsToPreferredReplicas stops a node gracefully, so its
// partitions get other leaders, and starts it again: as in Kafka
// (auto.leader.rebalance.enable, on by default), the active controller
// gives each partition back to its preferred replica at its next imbalance
// check (leader.imbalance.check.interval.seconds, 1 here), which kcat -L
// shows. Before, leadership stayed on the nodes that took it over.
func TestLeadershipReturnsToPreferredReplicas(t *testing.T) {
	c := clusterUp(t, 3, "leader.imbalance.check.interval.seconds=1")
	if out, err := gregor(t, "topic", "create", "-b", c.addr(2), "pref", "-p", "6", "-r", "3"); err != nil {
		t.Fatalf("topic create: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "every partition led by its preferred replica after creation", func() bool {
		md, err := c.metadata(2, "pref")
		ok, _ := ledByPreferred(md, "pref")
		return err == nil && ok
	})

	pid := c.pid(1)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "node 1's process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	md, err := c.metadata(2, "pref")
	if ok, off := ledByPreferred(md, "pref"); err != nil || ok || off == 0 {
		t.Fatalf("with node 1 stopped: err %v, %d partitions led by another than their preferred replica, want some", err, off)
	}
	if out, err := gregor(t, "cluster", "up", "--dir", c.dir); err != nil {
		t.Fatalf("cluster up to restart node 1: %v\n%s", err, out)
	}
	// Every node's image, since kcat -L asks whichever broker it reaches
	// first, and an image can trail the controller's by a moment.
	waitFor(t, 30*time.Second, "every partition led by its preferred replica again, on every node", func() bool {
		for node := 1; node <= 3; node++ {
			md, err := c.metadata(node, "pref")
			if ok, _ := ledByPreferred(md, "pref"); err != nil || !ok {
				return false
			}
		}
		return true
	})

	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat is not installed")
	}
	out, err := exec.Command("kcat", "-b", strings.Join(c.bootstrap(), ","), "-L", "-t", "pref").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	lines := regexp.MustCompile(`partition \d+, leader (\d+), replicas: (\d+)`).FindAllStringSubmatch(string(out), -1)
	if len(lines) != 6 {
		t.Fatalf("kcat -L lists %d partitions of pref, want 6:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if l[1] != l[2] {
			t.Errorf("kcat -L: %s: the leader is not the preferred replica", l[0])
		}
	}
}

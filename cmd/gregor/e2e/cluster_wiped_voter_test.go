package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quorumLeader is the metadata quorum's leader and epoch as gregor cluster
// status prints them, 0 when it names none.
func (c *localCluster) quorumLeader(t *testing.T) (leader, epoch int) {
	t.Helper()
	out, _ := gregor(t, "cluster", "status", "--dir", c.dir)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "QUORUM" && f[1] == "LEADER":
			leader, _ = strconv.Atoi(f[2])
		case len(f) == 3 && f[0] == "QUORUM" && f[1] == "EPOCH":
			epoch, _ = strconv.Atoi(f[2])
		}
	}
	return leader, epoch
}

// TestWipedVoterRejoinsUnderTheSameLeader: a voter of the metadata quorum
// killed, its whole data directory wiped (a disk replaced), and started
// again while the quorum's leader that knew it still leads. As in Kafka's
// static quorum, it starts over from an empty log and catches up: the
// leader hands its leadership to the third voter, which sends the wiped
// voter the metadata, then every replica comes back to the ISR with the
// records acknowledged while it was down. Before, the leader's first
// heartbeat stopped it ("a voter never rejoins the quorum with a lost
// log"), but only if the leader had not changed meanwhile: the outcome
// hung on timing.
func TestWipedVoterRejoinsUnderTheSameLeader(t *testing.T) {
	c := clusterUp(t, 3)
	c.createTopics(t, 3, "wiped")
	acked := c.produceAcked(t, "wiped", 3, 20)
	var leader, epoch int
	waitFor(t, 30*time.Second, "a quorum leader", func() bool {
		leader, epoch = c.quorumLeader(t)
		return leader > 0
	})
	wiped := leader%3 + 1
	c.killAll(t, wiped)
	for p, m := range c.produceAcked(t, "wiped", 3, 20) {
		for o, v := range m {
			acked[p][o] = v
		}
	}
	// The case under test: the leader that knew the voter still leads
	// (so far it always did; should another voter have taken over, the
	// wiped voter must rejoin all the same).
	l, e := c.quorumLeader(t)
	sameLeader := l == leader && e == epoch
	if !sameLeader {
		t.Logf("quorum leader %d in epoch %d after the kill, not %d in epoch %d", l, e, leader, epoch)
	}
	data := filepath.Join(c.dir, fmt.Sprintf("node-%d", wiped), "data")
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	c.restart(wiped)
	c.waitFullISR(t, wiped, 90*time.Second, "wiped")
	c.consumeAcked(t, wiped, "wiped", acked)
	if how, ok := c.exits.Load(wiped); ok {
		t.Fatalf("the wiped voter exited: %v", how)
	}
	if err := syscall.Kill(c.pid(wiped), 0); err != nil {
		t.Fatalf("the wiped voter is not running: %v", err)
	}
	if log, _ := os.ReadFile(c.logFile(leader)); sameLeader && !strings.Contains(string(log), "handing the leadership to another voter") {
		t.Fatalf("node %d, the leader that knew the wiped voter, did not hand its leadership on", leader)
	}
}

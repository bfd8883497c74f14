package actors

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/raftlog"
)

// The active controller's node stopping (gracefully, then as if killed)
// leaves a new active controller within seconds, and topic creation works
// again; a stopped node that comes back catches up.
func TestClusterControllerFailover(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	first := c.activeController()
	c.createTopicEventually(first, "before", 3, 3)

	stopped := time.Now()
	c.stop(first, true)
	second := c.activeController()
	t.Logf("graceful stop: node %d took over from node %d in %v", second+1, first+1, time.Since(stopped))
	if second == first {
		t.Fatal("the stopped node is still the controller")
	}
	c.createTopicEventually(3-first-second, "after-stop", 2, 2)

	c.startAll() // the first node comes back
	c.waitForTopic("after-stop", 2)

	killed := time.Now()
	c.stop(second, false)
	third := c.activeController()
	t.Logf("kill: node %d took over from node %d in %v", third+1, second+1, time.Since(killed))
	survivor := 3 - second - third
	c.createTopicEventually(survivor, "after-kill", 2, 1)
	c.waitForTopic("after-kill", 2)
	c.waitForTopic("before", 3)
}

// A whole-cluster restart keeps every topic, and the cluster forms again.
func TestClusterRestartKeepsTopics(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	for i, name := range []string{"a", "b", "c"} {
		c.createTopicEventually((active+i)%3, name, int32(i+1), 3)
	}
	c.waitForTopic("c", 3)
	id := c.node(0).ClusterID()
	for i := range 3 {
		c.stop(i, true)
	}
	c.startAll()
	for i, name := range []string{"a", "b", "c"} {
		c.waitForTopic(name, int32(i+1))
	}
	for i := range 3 {
		if got := c.node(i).ClusterID(); got != id {
			t.Fatalf("node %d is in cluster %q after the restart, was %q", i+1, got, id)
		}
	}
	c.createTopicEventually(c.activeController(), "d", 1, 3)
}

// Gossip tells the controller early that a broker died: with a session
// timeout far away, a killed broker is fenced (its leadership moved) within
// seconds (gossip's LAN timings report it failed after about a second), and
// a broker that comes back is unfenced again.
func TestClusterGossipFencesAKilledBroker(t *testing.T) {
	gossipAddrs := []string{freeUDPAddress(t), freeUDPAddress(t), freeUDPAddress(t)}
	c := newTestCluster(t, 3, 0, func(i int, cfg *Config) {
		cfg.BrokerSessionTimeoutMs = 60_000
		cfg.GossipListener, cfg.GossipSeeds = gossipAddrs[i], gossipAddrs
	})
	c.startAll()
	active := c.activeController()
	victim := (active + 1) % 3
	killed := time.Now()
	c.stop(victim, false)
	waitFor(t, 15*time.Second, "the killed broker fenced", func() bool {
		b, ok := c.node(active).routes.load().image.Broker(int32(victim + 1))
		return ok && b.Fenced
	})
	t.Logf("broker %d fenced %v after it was killed (session timeout 60 s)", victim+1, time.Since(killed))
	c.startAll()
	waitFor(t, 15*time.Second, "the broker back and unfenced", func() bool {
		b, ok := c.node(active).routes.load().image.Broker(int32(victim + 1))
		return ok && !b.Fenced
	})
}

// freeUDPAddress reserves a loopback port free for both TCP and UDP (what
// gossip binds).
func freeUDPAddress(t *testing.T) string {
	t.Helper()
	for range 20 {
		addr := freeAddress(t)
		if u, err := net.ListenPacket("udp", addr); err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port for gossip")
	return ""
}

// Snapshots keep the metadata log short; a node restarts from its latest
// snapshot and the entries after it.
func TestMetadataSnapshotsAndRestart(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, func(c *Config) { c.MetadataSnapshotIntervalBytes = 1 })
	adm := kadm.NewClient(newClient(t, n))
	ctx := testContext(t, 30*time.Second)
	for i := range 5 {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	stopNode(t, n)
	names, err := os.ReadDir(filepath.Join(dir, raftlog.DirName))
	if err != nil {
		t.Fatal(err)
	}
	snapshots := 0
	for _, e := range names {
		if strings.HasSuffix(e.Name(), ".snap") {
			snapshots++
		}
	}
	if snapshots != 1 {
		t.Fatalf("metadata log directory holds %v", names)
	}
	n = startTestNode(t, dir, nil)
	if got := n.routes.load().image.TopicNames(); fmt.Sprint(got) != "[s0 s1 s2 s3 s4]" {
		t.Fatalf("topics after the restart: %v", got)
	}
}

// A broker-only node follows the metadata quorum as a learner: it registers,
// is unfenced, sees every topic, and forwards what it is asked to the
// controller. A controller-only node votes and may be the active
// controller, but hosts nothing, and clients are never told to reach it.
func TestClusterBrokerOnlyNodeJoinsAsLearner(t *testing.T) {
	c := newTestCluster(t, 3, 1, func(i int, cfg *Config) {
		if i == 2 {
			cfg.Roles = Roles{Controller: true}
		}
	})
	c.startAll()
	learner := c.node(3)
	if learner.ControllerAddr() != nil || learner.controller != nil {
		t.Fatal("the broker-only node runs a controller")
	}
	if c.node(2).Addr() != nil {
		t.Fatal("the controller-only node has a client listener")
	}
	c.createTopicEventually(3, "through-learner", 4, 3)
	c.waitForTopic("through-learner", 4)
	ctx := testContext(t, 30*time.Second)
	dq, err := describeQuorumRequest().RequestWith(ctx, newClient(t, learner))
	if err != nil {
		t.Fatal(err)
	}
	p := dq.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.CurrentVoters) != 3 || len(p.Observers) != 1 || p.Observers[0].ReplicaID != 4 {
		t.Fatalf("describe quorum: %+v", p)
	}
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, newClient(t, learner))
	if err != nil || len(md.Brokers) != 3 || md.ControllerID == 3 || md.ControllerID < 0 {
		t.Fatalf("metadata from the learner: %v %+v", err, md)
	}
	for _, b := range md.Brokers {
		if b.NodeID == 3 {
			t.Fatal("the controller-only node is listed as a broker")
		}
	}
	topic, _ := learner.routes.load().image.Topic("through-learner")
	for _, part := range topic.Partitions {
		if part.HostedBy(3) {
			t.Fatalf("a replica placed on the controller-only node: %+v", part)
		}
	}
}

func errorContains(err error, text string) bool {
	return err != nil && strings.Contains(err.Error(), text)
}

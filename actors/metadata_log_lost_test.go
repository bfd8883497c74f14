package actors

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"gregor/logstore/raftlog"
)

// quorumView is node i's view of the metadata quorum: its leader and epoch.
func (c *testCluster) quorumView(i int) (leader int32, epoch int32) {
	c.t.Helper()
	dq, err := describeQuorumRequest().RequestWith(testContext(c.t, 10*time.Second), newClient(c.t, c.node(i)))
	if err != nil {
		c.t.Fatal(err)
	}
	p := dq.Topics[0].Partitions[0]
	return p.LeaderID, p.LeaderEpoch
}

// TestBrokerRejoinsAfterLosingItsMetadataLog: a broker-only node (a raft
// learner) whose metadata log directory was wiped while it was down
// restarts while the same quorum leader leads; topics were created and
// records produced meanwhile. It catches up (a snapshot, then the log),
// its replicas come back identical to the others, and the quorum's leader
// and epoch never changed. On main the leader's heartbeat, committing past
// the empty log, made etcd raft panic on the broker ("tocommit(N) is out of
// range [lastIndex(0)]"); it caught up only after a leader change.
func TestBrokerRejoinsAfterLosingItsMetadataLog(t *testing.T) {
	c := newTestCluster(t, 3, 1, func(i int, cfg *Config) {
		cfg.MetadataSnapshotIntervalBytes = 1
		if i == 3 {
			cfg.MetadataLogDir = filepath.Join(t.TempDir(), "metadata")
		}
	})
	c.startAll()
	ctx := testContext(t, 120*time.Second)
	c.createAssigned(0, "kept", []int32{4, 1, 2}, "1")
	cl := newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	producePrefixed(ctx, t, cl, "kept", "a", 5)
	c.waitReplicasIdentical(0, "kept", 1)
	leader, epoch := c.quorumView(0)

	c.stop(3, false)
	waitFor(t, 30*time.Second, "broker 4 to be fenced", func() bool {
		b, ok := c.node(0).routes.load().image.Broker(4)
		return ok && b.Fenced
	})
	c.createAssigned(0, "added", []int32{1, 4, 2}, "1")
	producePrefixed(ctx, t, cl, "kept", "b", 5)
	producePrefixed(ctx, t, cl, "added", "c", 5)
	if err := os.RemoveAll(c.cfgs[3].MetadataLogDir); err != nil {
		t.Fatal(err)
	}

	if err := c.tryStart(3); err != nil {
		t.Fatal(err)
	}
	c.waitReplicasIdentical(0, "kept", 1)
	c.waitReplicasIdentical(0, "added", 1)
	select {
	case <-c.node(3).failed:
		t.Fatalf("broker 4 failed: %v", c.node(3).failErr)
	default:
	}
	for i := range 4 {
		if l, e := c.quorumView(i); l != leader || e != epoch {
			t.Fatalf("node %d sees quorum leader %d in epoch %d, want %d in epoch %d (no leader change)", i+1, l, e, leader, epoch)
		}
	}
	img := c.node(3).routes.load().image
	if _, ok := img.Topic("added"); !ok {
		t.Fatal("broker 4's image lacks the topic created while it was down")
	}
}

// TestVoterThatLostItsMetadataLogRejoinsUnderTheSameLeader: a voter whose
// metadata log alone was wiped refuses to start (its meta.properties names
// the cluster), with what to do. One whose whole data directory was wiped
// (meta.properties too, so it cannot tell it belonged to a cluster)
// restarts while the same quorum leader leads, which remembers what the
// voter acknowledged. It starts over catching up, tells the leader its log
// is gone, the leader hands its leadership to the third voter, and the
// voter catches up from it: the same outcome as when the leader changed
// while it was down (the next test). Before, the leader's first heartbeat
// stopped it (quorum.ErrLogLost, "a voter never rejoins"), so the outcome
// depended on whether a leader was elected meanwhile.
func TestVoterThatLostItsMetadataLogRejoinsUnderTheSameLeader(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	c.createTopicEventually(0, "t", 1, 3)
	active := c.activeController()
	follower := (active + 1) % 3
	c.stop(follower, false)
	c.createTopicEventually(active, "u", 1, 2)
	leader, epoch := c.quorumView(active)
	if leader != int32(active+1) {
		t.Fatalf("quorum leader %d, want %d", leader, active+1)
	}
	dir := c.cfgs[follower].DataDir
	// Its metadata log alone gone: meta.properties says it belonged to a
	// cluster, and it refuses to start.
	if err := os.RemoveAll(filepath.Join(dir, raftlog.DirName)); err != nil {
		t.Fatal(err)
	}
	if err := c.tryStart(follower); err == nil || !strings.Contains(err.Error(), "restore the directory") ||
		!strings.Contains(err.Error(), "empty the whole data directory (meta.properties too)") {
		t.Fatalf("a voter's directory without its metadata log: %v, want a refusal saying what to do", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	c.logs = core
	if err := c.tryStart(follower); err != nil {
		t.Fatal(err)
	}
	marker := catchUpMarker(c.cfgs[follower])
	n := c.node(follower)
	waitFor(t, 60*time.Second, "the wiped voter to catch up", func() bool {
		select {
		case <-n.failed:
			t.Fatalf("the wiped voter failed: %v", n.failErr)
		default:
		}
		_, err := os.Stat(marker)
		return errors.Is(err, os.ErrNotExist) && logs.FilterMessageSnippet("caught up with the metadata quorum's leader").Len() == 1
	})
	if logs.FilterMessageSnippet("it lost its log; telling the leader").Len() == 0 {
		t.Fatal("the wiped voter did not tell the leader that knew it")
	}
	waitFor(t, 30*time.Second, "the wiped voter to hold both topics", func() bool {
		img := n.routes.load().image
		_, t1 := img.Topic("t")
		_, t2 := img.Topic("u")
		return t1 && t2
	})
	// The leader that knew it handed its leadership on.
	if l, e := c.quorumView(follower); l == int32(follower+1) || l < 1 || e <= epoch {
		t.Fatalf("the wiped voter sees quorum leader %d in epoch %d, want another voter in an epoch after %d", l, e, epoch)
	}
}

// TestVoterThatLostItsMetadataLogCatchesUpBeforeVoting: a voter whose whole
// data directory was wiped restarts after the quorum's leader changed, so
// no leader knows what it acknowledged. It starts over from an empty log
// as a voter catching up (a marker file in its metadata log directory
// keeps that across restarts): it votes only once it applied an entry of
// its leader's term, then the marker goes. Without the catch-up it would
// have voted by its empty log at once (cluster/quorum/catch_up.go;
// testdata/catch_up.txt shows the committed entries that loses).
func TestVoterThatLostItsMetadataLogCatchesUpBeforeVoting(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	c.createTopicEventually(0, "t", 1, 3)
	active := c.activeController()
	wiped := (active + 1) % 3
	c.stop(wiped, false)
	c.createTopicEventually(active, "u", 1, 2)
	// A new leader, which never heard from the wiped voter.
	c.stop(active, false)
	if err := c.tryStart(active); err != nil {
		t.Fatal(err)
	}
	c.activeController()
	dir := c.cfgs[wiped].DataDir
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.InfoLevel)
	c.logs = core
	if err := c.tryStart(wiped); err != nil {
		t.Fatal(err)
	}
	if logs.FilterMessageSnippet("starts from an empty metadata log").Len() != 1 {
		t.Fatal("the wiped voter did not start catching up")
	}
	marker := catchUpMarker(c.cfgs[wiped])
	waitFor(t, 30*time.Second, "the wiped voter to catch up", func() bool {
		_, err := os.Stat(marker)
		return errors.Is(err, os.ErrNotExist) && logs.FilterMessageSnippet("caught up with the metadata quorum's leader").Len() == 1
	})
	waitFor(t, 30*time.Second, "the wiped voter to hold both topics", func() bool {
		img := c.node(wiped).routes.load().image
		_, t1 := img.Topic("t")
		_, t2 := img.Topic("u")
		return t1 && t2
	})
	select {
	case <-c.node(wiped).failed:
		t.Fatalf("the wiped voter failed: %v", c.node(wiped).failErr)
	default:
	}
}

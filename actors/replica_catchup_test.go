package actors

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// A node restarted after the cluster moved its leadership away starts no
// replica from the image it persisted before it stopped: its replica
// manager holds the images back until the broker caught up with the
// metadata log, so the partition it led is never started (as leader, or at
// all) at the leader epoch the cluster left, and never answers a Produce as
// its leader; the data of a topic deleted meanwhile goes.
func TestRestartedNodeStartsReplicasOnlyAfterCatchingUp(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	c.createAssigned(0, "moved", []int32{1, 2, 3}, "2")
	c.createAssigned(0, "gone", []int32{1, 2, 3}, "2")
	c.waitISR(1, "moved", 1, 2, 3)
	gone := filepath.Join(c.cfgs[0].DataDir, "gone-0")
	// Created topics are committed when createAssigned returns; node 1
	// makes the partition's directory when it applies the record.
	waitFor(t, 30*time.Second, "node 1 to make gone-0's directory", func() bool {
		_, err := os.Stat(gone)
		return err == nil
	})
	part := func() (leader, epoch int32) {
		tp, _ := c.node(1).routes.load().image.Topic("moved")
		return tp.Partitions[0].Leader, tp.Partitions[0].LeaderEpoch
	}
	waitFor(t, 30*time.Second, "node 1 to lead moved-0", func() bool { l, _ := part(); return l == 1 })
	_, stale := part()

	c.stop(0, false) // killed: its files keep the image with it as leader
	var moved int32
	waitFor(t, 30*time.Second, "leadership of moved-0 to move off node 1", func() bool {
		l, e := part()
		moved = e
		return l != 1 && l >= 0 && e > stale
	})
	// A topic deleted while the node is down: its data goes when it is back.
	if resp, err := c.admin(1).DeleteTopics(testContext(t, 20*time.Second), "gone"); err != nil || resp["gone"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}

	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Core(), core)).With(zap.Int("test_node", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := Start(ctx, c.cfgs[0], logger)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes[0] = n
	c.mu.Unlock()

	started := 0
	for _, e := range logs.FilterMessage("replica started").All() {
		f := e.ContextMap()
		if f["topic"] != "moved" {
			continue
		}
		started++
		if epoch := f["leader_epoch"].(int32); epoch < moved {
			t.Errorf("node 1 started moved-0 from its stale image: leader %v at leader epoch %d; the cluster had moved to epoch %d",
				f["leader"], epoch, moved)
		}
	}
	if started == 0 {
		t.Fatal("node 1 was unfenced without starting its replica of moved-0")
	}
	waitFor(t, 10*time.Second, "the deleted topic's directory to be removed", func() bool {
		names, err := os.ReadDir(c.cfgs[0].DataDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range names {
			if strings.HasPrefix(e.Name(), "gone-0") {
				return false
			}
		}
		return true
	})
	// It follows: an acks=1 Produce to it is refused, not appended.
	tp, _ := n.routes.load().image.Topic("moved")
	cl := newClient(t, n, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if off, err := rawProduce(cl, "moved", tp.ID, 0, "stale"); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("the restarted node answered a Produce to moved-0, which node %d leads: offset %d, %v", tp.Partitions[0].Leader, off, err)
	}
}

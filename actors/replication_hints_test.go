package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// Stale requests get KIP-951 leader hints: a Produce (v10+) or Fetch
// (v12+) sent to a follower is answered NOT_LEADER_OR_FOLLOWER, and a
// Fetch with an old leader epoch FENCED_LEADER_EPOCH, each with the
// current leader and leader epoch, and the response lists the leader's
// endpoint (Produce v10+, Fetch v16+); a node with no replica of the
// partition hints from its metadata image.
func TestReplicationLeaderHints(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	adm := c.admin(active)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "hinted"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "single"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("hinted", 1)
	c.waitForTopic("single", 1)
	c.waitISRFull(active, "hinted", 1)
	// A leader change, so that there is an older leader epoch to fence.
	first, _ := c.node(active).routes.load().image.Topic("hinted")
	moved := int(first.Partitions[0].Leader - 1)
	c.stop(moved, true)
	if moved == active {
		active = c.activeController()
	}
	c.startAll()
	c.waitISRFull(active, "hinted", 1)
	img := c.node(active).routes.load().image
	hinted, _ := img.Topic("hinted")
	single, _ := img.Topic("single")
	leader := hinted.Partitions[0]
	if leader.LeaderEpoch < 1 {
		t.Fatalf("leader epoch %d after a leader change", leader.LeaderEpoch)
	}
	follower := leader.Replicas[0]
	if follower == leader.Leader {
		follower = leader.Replicas[1]
	}
	// A node other than the single topic's only replica (it has no actor
	// for the partition: the image hints).
	outsider := single.Partitions[0].Leader%3 + 1
	want := cluster.LeaderHint{LeaderID: leader.Leader, LeaderEpoch: leader.LeaderEpoch}
	leaderAddr := c.node(int(leader.Leader - 1)).Addr().String()

	checkBrokers := func(what string, ids []int32, hosts []string, ports []int32, wantID int32, wantAddr string) {
		t.Helper()
		for i, id := range ids {
			if id == wantID && fmt.Sprintf("%s:%d", hosts[i], ports[i]) == wantAddr {
				return
			}
		}
		t.Errorf("%s: response brokers %v do not list %d at %s", what, ids, wantID, wantAddr)
	}
	produce := func(node int32, tp *cluster.TopicImage) (kmsg.ProduceResponseTopicPartition, *kmsg.ProduceResponse) {
		t.Helper()
		cl := pinnedClient(t, c.node(int(node-1)), int16(kmsg.Produce), 11)
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tp.Name
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = recordBatch(1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0], resp
	}
	p, resp := produce(follower, hinted)
	if p.ErrorCode != kerr.NotLeaderForPartition.Code || p.CurrentLeader.LeaderID != want.LeaderID || p.CurrentLeader.LeaderEpoch != want.LeaderEpoch {
		t.Errorf("produce to follower %d: %v, current leader %+v, want NOT_LEADER_OR_FOLLOWER and %+v", follower, kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader, want)
	}
	var ids, ports []int32
	var hosts []string
	for _, b := range resp.Brokers {
		ids, hosts, ports = append(ids, b.NodeID), append(hosts, b.Host), append(ports, b.Port)
	}
	checkBrokers("produce to a follower", ids, hosts, ports, leader.Leader, leaderAddr)
	p, _ = produce(outsider, single)
	if p.ErrorCode != kerr.NotLeaderForPartition.Code || p.CurrentLeader.LeaderID != single.Partitions[0].Leader {
		t.Errorf("produce to node %d, no replica: %v, current leader %+v, want NOT_LEADER_OR_FOLLOWER and leader %d", outsider,
			kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader, single.Partitions[0].Leader)
	}

	fetch := func(node int32, epoch int32) (kmsg.FetchResponseTopicPartition, *kmsg.FetchResponse) {
		t.Helper()
		cl := pinnedClient(t, c.node(int(node-1)), int16(kmsg.Fetch), 16)
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		req.ReplicaState.ID = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = hinted.Name, hinted.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.LastFetchedEpoch = 1<<20, epoch, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0], resp
	}
	for _, tc := range []struct {
		what  string
		node  int32
		epoch int32
		code  int16
	}{
		{"fetch from a follower", follower, leader.LeaderEpoch, kerr.NotLeaderForPartition.Code},
		{"fetch with an old leader epoch", leader.Leader, leader.LeaderEpoch - 1, kerr.FencedLeaderEpoch.Code},
	} {
		fp, fresp := fetch(tc.node, tc.epoch)
		if fp.ErrorCode != tc.code || fp.CurrentLeader.LeaderID != want.LeaderID || fp.CurrentLeader.LeaderEpoch != want.LeaderEpoch {
			t.Errorf("%s: %v, current leader %+v, want %v and %+v", tc.what, kerr.ErrorForCode(fp.ErrorCode), fp.CurrentLeader, kerr.ErrorForCode(tc.code), want)
		}
		ids, hosts, ports = nil, nil, nil
		for _, b := range fresp.Brokers {
			ids, hosts, ports = append(ids, b.NodeID), append(hosts, b.Host), append(ports, b.Port)
		}
		checkBrokers(tc.what, ids, hosts, ports, leader.Leader, leaderAddr)
	}
}

// An answer without a leader hint (every successful produce and fetch)
// allocates none: hintOf's parameter escaped through the hint it returns,
// so every call moved it to the heap.
func TestHintOfNoneAllocatesNothing(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector allocates")
	}
	none := cluster.LeaderHint{LeaderID: -1, LeaderEpoch: -1}
	var got *cluster.LeaderHint
	if n := testing.AllocsPerRun(100, func() { got = hintOf(none) }); n != 0 || got != nil {
		t.Fatalf("%.1f allocations, hint %v", n, got)
	}
	if h := hintOf(cluster.LeaderHint{LeaderID: 2, LeaderEpoch: 5}); h == nil || h.LeaderID != 2 || h.LeaderEpoch != 5 {
		t.Fatalf("hint %v", h)
	}
}

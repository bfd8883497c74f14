package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// steadyLoadFor is how long TestClusterNoFailoverUnderFullLoad loads the
// cluster.
const steadyLoadFor = 12 * time.Second

// No false failover under full load (issue 9: the defaults must fail over
// fast, but never while every node is alive, however busy): a three-node
// cluster with gregor's default timeouts takes as many acks=all writes of
// 100 B as four producers with five requests in flight each can send, on
// an RF=3 topic of six partitions, for steadyLoadFor (segments of 16 MiB,
// at most 64 MiB kept per partition). Meanwhile no node
// may give up on another: the metadata quorum keeps its leader and epoch
// (no controller election), every partition keeps its leader epoch (no
// leader election), no broker is fenced, and no node's gossip reports
// another gone (the nodes' logs, kept with GREGOR_E2E_LOGS, say why when
// one did).
func TestClusterNoFailoverUnderFullLoad(t *testing.T) {
	c := clusterUp(t, 3)
	const topic, partitions = "steady", int32(6)
	seeds := kgo.SeedBrokers(c.bootstrap()...)
	admin, err := kgo.NewClient(seeds)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, partitions, 3, map[string]*string{
		"min.insync.replicas": kadm.StringPtr("2"), "segment.bytes": kadm.StringPtr("16777216"), "retention.bytes": kadm.StringPtr("67108864"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitFullISR(t, 1, 60*time.Second, topic)

	quorumEpoch := func() (leader int32, epoch int32) {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, admin)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("DescribeQuorum: %v %+v", err, resp)
		}
		p := resp.Topics[0].Partitions[0]
		return p.LeaderID, p.LeaderEpoch
	}
	leaderEpochs := func() map[int32][2]int32 {
		ps, _, ok := c.partitionState(1, topic)
		if !ok || len(ps) != int(partitions) {
			t.Fatalf("metadata of %s: %+v", topic, ps)
		}
		out := map[int32][2]int32{}
		for _, p := range ps {
			out[p.Partition] = [2]int32{p.Leader, p.LeaderEpoch}
		}
		return out
	}
	logLines := func(pattern string) int {
		n := 0
		for i := 1; i <= 3; i++ {
			b, err := os.ReadFile(c.logFile(i))
			if err != nil {
				t.Fatal(err)
			}
			n += strings.Count(string(b), pattern)
		}
		return n
	}
	const fencedLine, goneLine = "broker fenced", "gossip reports a broker gone"
	quorumLeader, epochBefore := quorumEpoch()
	leadersBefore := leaderEpochs()
	fencedBefore, goneBefore := logLines(fencedLine), logLines(goneLine)

	value := make([]byte, 100)
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	loadCtx, stop := context.WithTimeout(ctx, steadyLoadFor)
	defer stop()
	for range 4 {
		cl, err := kgo.NewClient(seeds, kgo.DefaultProduceTopic(topic), kgo.MaxProduceRequestsInflightPerBroker(5),
			kgo.DisableIdempotentWrite(), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				cl.Produce(loadCtx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err == nil {
						acked.Add(1)
					} else if loadCtx.Err() == nil {
						failed.Add(1)
					}
				})
			}
			_ = cl.Flush(context.Background())
		}()
	}
	wg.Wait()

	quorumLeaderAfter, epochAfter := quorumEpoch()
	leadersAfter := leaderEpochs()
	fenced, gone := logLines(fencedLine)-fencedBefore, logLines(goneLine)-goneBefore
	t.Logf("%d records of 100 B acknowledged in %v (%d failed); quorum leader %d at epoch %d before, %d at epoch %d after; "+
		"partition leaders and epochs %v before, %v after; %d brokers fenced, %d gone by gossip",
		acked.Load(), steadyLoadFor, failed.Load(), quorumLeader, epochBefore, quorumLeaderAfter, epochAfter,
		leadersBefore, leadersAfter, fenced, gone)
	if epochAfter != epochBefore || quorumLeaderAfter != quorumLeader {
		t.Errorf("the metadata quorum elected a leader under load: %d at epoch %d, then %d at epoch %d",
			quorumLeader, epochBefore, quorumLeaderAfter, epochAfter)
	}
	if fmt.Sprint(leadersAfter) != fmt.Sprint(leadersBefore) {
		t.Errorf("partition leaders moved under load: %v, then %v", leadersBefore, leadersAfter)
	}
	if fenced > 0 || gone > 0 {
		t.Errorf("under load %d brokers were fenced and gossip reported %d gone (node logs: GREGOR_E2E_LOGS)", fenced, gone)
	}
	if failed.Load() > 0 {
		t.Errorf("%d writes failed under load", failed.Load())
	}
	if acked.Load() == 0 {
		t.Error("no write acknowledged")
	}
}

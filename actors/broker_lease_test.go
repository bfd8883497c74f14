package actors

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/groups"
	"gregor/txn"
)

// TestCoordinatorAnswersOnlyUnderLease: node 2, a broker-only node, leads a
// group's __consumer_offsets partition and a transactional id's
// __transaction_state partition. The cluster's only controller
// (node 1) is stopped as if killed, so node 2's heartbeats go unanswered:
// once its lease lapses its coordinator answers OffsetFetch with
// NOT_COORDINATOR instead of the offset it holds in memory, and so does its
// transaction coordinator to InitProducerId (a controller
// that could still reach the others might have moved the group), while
// its partition keeps taking acks=1 writes, as Kafka's leaders do. When the
// controller is back and acknowledges a heartbeat, the coordinators answer
// again.
func TestCoordinatorAnswersOnlyUnderLease(t *testing.T) {
	c := newTestCluster(t, 1, 1, func(_ int, cfg *Config) {
		cfg.Groups.OffsetsTopicPartitions, cfg.Groups.OffsetsTopicReplicationFactor = 4, 1
		cfg.Txns.StateLogPartitions, cfg.Txns.StateLogReplicationFactor, cfg.Txns.StateLogMinISR = 4, 1, 1
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 500, 6000
	})
	c.startAll()
	ctx := testContext(t, 120*time.Second)
	c.createAssigned(0, "t", []int32{2}, "1")
	adm := kadm.NewClient(newClient(t, c.node(1)))
	group := groupLedBy(ctx, t, c, adm, 2)
	// And a transactional id whose coordinator runs on node 2.
	tid := txnIDLedBy(ctx, t, c, adm, 2)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "t", Partition: 0, At: 7, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, group, offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	cl := newClient(t, c.node(1), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DefaultProduceTopic("t"), kgo.RecordRetries(0))
	topic, _ := c.node(1).routes.load().image.Topic("t")
	// fetch asks node 2 itself for the group's offset of t/0, in either
	// shape of OffsetFetch (the version is the highest both sides speak).
	fetch := func() (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group,
			Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: topic.ID, Partitions: []int32{0}}}}}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := cl.Broker(2).Request(rctx, req)
		if err != nil {
			return -1, kerr.RequestTimedOut.Code
		}
		r := resp.(*kmsg.OffsetFetchResponse)
		if len(r.Groups) == 1 {
			g := r.Groups[0]
			if g.ErrorCode != 0 || len(g.Topics) != 1 || len(g.Topics[0].Partitions) != 1 {
				return -1, g.ErrorCode
			}
			return g.Topics[0].Partitions[0].Offset, g.Topics[0].Partitions[0].ErrorCode
		}
		if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			return -1, r.ErrorCode
		}
		return r.Topics[0].Partitions[0].Offset, r.Topics[0].Partitions[0].ErrorCode
	}
	// initProducerID asks node 2 for a producer id of tid.
	initProducerID := func() int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(tid), 60_000
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := cl.Broker(2).Request(rctx, req)
		if err != nil {
			return kerr.RequestTimedOut.Code
		}
		return resp.(*kmsg.InitProducerIDResponse).ErrorCode
	}
	waitFor(t, 10*time.Second, "node 2's coordinator to answer offset 7", func() bool {
		at, code := fetch()
		return code == 0 && at == 7
	})
	waitFor(t, 10*time.Second, "node 2's transaction coordinator to give a producer id", func() bool { return initProducerID() == 0 })

	c.stop(0, false)
	stopped := time.Now()
	waitFor(t, 10*time.Second, "node 2's coordinator to answer NOT_COORDINATOR", func() bool {
		at, code := fetch()
		if code == 0 && time.Since(stopped) > 5*time.Second {
			t.Logf("still answering offset %d %v after the controller stopped", at, time.Since(stopped))
		}
		return code == kerr.NotCoordinator.Code
	})
	leaseMs := cluster.BrokerLeaseMs(6000, 500)
	t.Logf("NOT_COORDINATOR %v after the controller stopped (lease %d ms)", time.Since(stopped), leaseMs)
	if code := initProducerID(); code != kerr.NotCoordinator.Code {
		t.Fatalf("node 2's transaction coordinator answered InitProducerId with %v without a lease, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	// Nor does node 2 name itself as either coordinator.
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey, find.CoordinatorKeys = group, []string{group}
	if resp, err := find.RequestWith(ctx, cl.Broker(2)); err != nil || resp.ErrorCode != kerr.CoordinatorNotAvailable.Code && (len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code) {
		t.Fatalf("FindCoordinator for the group at node 2 without a lease: %+v %v, want COORDINATOR_NOT_AVAILABLE", resp, err)
	}
	find.CoordinatorType, find.CoordinatorKey, find.CoordinatorKeys = 1, tid, []string{tid}
	if resp, err := find.RequestWith(ctx, cl.Broker(2)); err != nil || resp.ErrorCode != kerr.CoordinatorNotAvailable.Code && (len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != kerr.CoordinatorNotAvailable.Code) {
		t.Fatalf("FindCoordinator for the transactional id at node 2 without a lease: %+v %v, want COORDINATOR_NOT_AVAILABLE", resp, err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatalf("acks=1 produce to node 2 without a controller: %v", err)
	}

	c.startAll()
	waitFor(t, 60*time.Second, "node 2's coordinator to answer offset 7 again", func() bool {
		at, code := fetch()
		return code == 0 && at == 7
	})
	waitFor(t, 30*time.Second, "node 2's transaction coordinator to answer again", func() bool { return initProducerID() == 0 })
}

// TestCoordinatorHoldsRequestsThroughLeaseLapse: a group request that
// reaches node 2's coordinator while its lease has lapsed (its only
// controller stopped) is held, not refused, and answered by the
// coordinator once the controller is back and acknowledges a heartbeat:
// a member heartbeating through a short lapse keeps its session.
func TestCoordinatorHoldsRequestsThroughLeaseLapse(t *testing.T) {
	c := newTestCluster(t, 1, 1, func(_ int, cfg *Config) {
		cfg.Groups.OffsetsTopicPartitions, cfg.Groups.OffsetsTopicReplicationFactor = 4, 1
		cfg.Groups.LeaseHoldMs = 120_000 // longer than any restart of the controller here
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 500, 6000
	})
	c.startAll()
	ctx := testContext(t, 120*time.Second)
	c.createAssigned(0, "t", []int32{2}, "1")
	adm := kadm.NewClient(newClient(t, c.node(1)))
	group := groupLedBy(ctx, t, c, adm, 2)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "t", Partition: 0, At: 7, LeaderEpoch: -1})
	waitFor(t, 30*time.Second, "a commit at node 2's coordinator", func() bool {
		resp, err := adm.CommitOffsets(ctx, group, offsets)
		return err == nil && resp.Error() == nil
	})

	c.stop(0, false)
	waitFor(t, 10*time.Second, "node 2's lease to lapse", func() bool { return !c.node(1).leaseHolds() })
	// Written to node 2's socket during the lapse; read after the controller
	// is back.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 5, group
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	conn := sendRaw(t, c.node(1), fetch)
	c.startAll()
	resp := readRaw(t, conn, fetch).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
		resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[0].Partitions[0].Offset != 7 {
		t.Fatalf("the OffsetFetch held through the lapse was answered %+v, want offset 7", resp)
	}
}

// groupLedBy creates __consumer_offsets (4 partitions) through adm and
// returns a group name whose coordinator is on node.
func groupLedBy(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, node int32) string {
	t.Helper()
	if _, err := adm.FetchOffsets(ctx, "probe"); err != nil {
		t.Logf("first offset fetch (creates %s): %v", groups.OffsetsTopic, err)
	}
	leaders := c.waitForTopic(groups.OffsetsTopic, 4)
	for i := 0; ; i++ {
		if g := fmt.Sprintf("g%d", i); leaders[groups.PartitionFor(g, 4)] == node {
			return g
		}
	}
}

// TestTxnCoordinatorHoldsRequestsThroughLeaseLapse: as a group
// coordinator's, a transaction request that reaches node 2's transaction
// coordinator while its lease has lapsed (its only controller stopped) is
// held, not refused, and answered by the coordinator once the controller
// is back and acknowledges a heartbeat.
func TestTxnCoordinatorHoldsRequestsThroughLeaseLapse(t *testing.T) {
	c := newTestCluster(t, 1, 1, func(_ int, cfg *Config) {
		cfg.Txns.StateLogPartitions, cfg.Txns.StateLogReplicationFactor, cfg.Txns.StateLogMinISR = 4, 1, 1
		cfg.Txns.LeaseHoldMs = 120_000 // longer than any restart of the controller here
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 500, 6000
	})
	c.startAll()
	ctx := testContext(t, 120*time.Second)
	tid := txnIDLedBy(ctx, t, c, kadm.NewClient(newClient(t, c.node(1))), 2)
	cl := newClient(t, c.node(1))
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = kmsg.StringPtr(tid), 60_000
	waitFor(t, 30*time.Second, "node 2's transaction coordinator to give a producer id", func() bool {
		resp, err := init.RequestWith(ctx, cl.Broker(2))
		return err == nil && resp.ErrorCode == 0
	})

	c.stop(0, false)
	waitFor(t, 10*time.Second, "node 2's lease to lapse", func() bool { return !c.node(1).leaseHolds() })
	init.Version = 4
	conn := sendRaw(t, c.node(1), init)
	c.startAll()
	resp := readRaw(t, conn, init).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("the InitProducerId held through the lapse was answered %v, want a producer id", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// txnIDLedBy creates __transaction_state (4 partitions) through adm and
// returns a transactional id whose coordinator is on node.
func txnIDLedBy(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, node int32) string {
	t.Helper()
	if found := adm.FindTxnCoordinators(ctx, "probe")["probe"]; found.Err != nil {
		t.Logf("first transaction coordinator lookup (creates %s): %v", txn.StateTopic, found.Err)
	}
	leaders := c.waitForTopic(txn.StateTopic, 4)
	for i := 0; ; i++ {
		if id := fmt.Sprintf("tx%d", i); leaders[txn.PartitionFor(id, 4)] == node {
			return id
		}
	}
}

// sendRaw writes req to a new connection to n, for readRaw to read its
// answer later (the request is taken up, and maybe held, meanwhile).
func sendRaw(t *testing.T, n *Node, req kmsg.Request) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("held")).AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readRaw reads the answer to req, which sendRaw wrote to conn, waiting
// up to 100 s.
func readRaw(t *testing.T, conn net.Conn, req kmsg.Request) kmsg.Response {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(100 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, frame); err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	header := 4 // the correlation id
	if resp.IsFlexible() {
		header++ // and no tagged fields
	}
	if err := resp.ReadFrom(frame[header:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestTxnCoordinatorPausesMarkersThroughLeaseLapse: a transaction
// coordinator whose markers fail (the partition's leader, node 3, is down)
// sends them again every backoff; while its lease has lapsed (the only
// controller stopped: a coordinator cut off so may have been deposed) it
// holds its core's ticks and sends none, and once the lease holds again it
// sends them until the transaction completes.
func TestTxnCoordinatorPausesMarkersThroughLeaseLapse(t *testing.T) {
	c := newTestCluster(t, 1, 2, func(_ int, cfg *Config) {
		cfg.Txns.StateLogPartitions, cfg.Txns.StateLogReplicationFactor, cfg.Txns.StateLogMinISR = 4, 1, 1
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 500, 6000
	})
	c.startAll()
	ctx := testContext(t, 120*time.Second)
	c.createAssigned(0, "m", []int32{3}, "1")
	tid := txnIDLedBy(ctx, t, c, kadm.NewClient(newClient(t, c.node(0))), 2)
	cl := newClient(t, c.node(1))
	var p txnProducer
	waitFor(t, 30*time.Second, "a producer id", func() bool {
		var err error
		p, err = initTxn(ctx, cl, tid)
		return err == nil
	})
	if err := p.addPartition(ctx, cl, "m", 0); err != nil {
		t.Fatal(err)
	}
	failed := func() float64 {
		return testutil.ToFloat64(c.node(1).txns.metrics.markerRequests.WithLabelValues("failed"))
	}
	c.stop(2, false)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = tid, p.pid, p.epoch, true
	if resp, err := end.RequestWith(ctx, cl.Broker(2)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	waitFor(t, 30*time.Second, "the markers to node 3 to be sent again", func() bool { return failed() >= 3 })

	c.stop(0, false)
	waitFor(t, 10*time.Second, "node 2's lease to lapse", func() bool { return !c.node(1).leaseHolds() })
	before := failed()
	// A request held through the lapse (2 s) and then refused: the
	// coordinator's own 2 s, in which it used to send the markers again
	// every 100 ms.
	describe := kmsg.NewPtrDescribeTransactionsRequest()
	describe.TransactionalIDs = []string{tid}
	resp, err := describe.RequestWith(ctx, cl.Broker(2))
	if err != nil || len(resp.TransactionStates) != 1 || resp.TransactionStates[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("DescribeTransactions in the lapse: %v %+v, want NOT_COORDINATOR", err, resp)
	}
	if after := failed(); after > before+1 { // one may have been on its way as the lease lapsed
		t.Fatalf("the coordinator sent its markers %v more times while its lease had lapsed", after-before)
	}

	c.startAll()
	awaitTxnState(ctx, t, cl, tid, func(s kmsg.DescribeTransactionsResponseTransactionState) bool {
		return s.ErrorCode == 0 && s.State == "CompleteCommit"
	})
}

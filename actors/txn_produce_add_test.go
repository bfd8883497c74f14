package actors

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/txn"
)

// produceTxnToAll sends one Produce of version v for producer tp with a
// batch of two records to each of topic's partitions (sequence seq) and
// returns the partitions' error codes.
func produceTxnToAll(ctx context.Context, t *testing.T, n *Node, tp txnProducer, topic string, partitions int32, seq int32, v int16) []int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(tp.id), -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, txnRecordBatch(tp.pid, tp.epoch, seq, 2)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), v))
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, p := range resp.Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	return codes
}

// A Produce v12 (KIP-890 part 2) whose transaction coordinator is on the
// node adds all its partitions to the transaction in one ask of the
// coordinator, not one per partition (which costs an append of
// __transaction_state per few partitions); a produce to partitions already
// in the transaction asks nothing; the records commit with the
// transaction.
func TestTxnProduceAddsItsPartitionsInOneAsk(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	const partitions = 4
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, "one-ask"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "one-ask-producer")
	if err != nil {
		t.Fatal(err)
	}
	for i, seq := range []int32{0, 2} {
		asked := n.txns.asksSent.Load()
		if codes := produceTxnToAll(ctx, t, n, p, "one-ask", partitions, seq, 12); slices.ContainsFunc(codes, func(c int16) bool { return c != 0 }) {
			t.Fatalf("produce %d: codes %v", i, codes)
		}
		// The second produce's partitions are in the transaction: they
		// need no ask.
		if got, want := n.txns.asksSent.Load()-asked, int64(1-i); got != want {
			t.Errorf("produce %d to %d partitions asked the coordinator %d times, want %d", i, partitions, got, want)
		}
	}
	s := describeTxn(ctx, t, cl, p.id)
	if len(s.Topics) != 1 || len(s.Topics[0].Partitions) != partitions || s.State != "Ongoing" {
		t.Fatalf("transaction %+v, want ongoing over the %d partitions", s, partitions)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.id, p.pid, p.epoch, true
	if resp, err := end.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.EndTxn), 5)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	var want []string
	for range partitions {
		for seq := range 4 {
			want = append(want, fmt.Sprintf("seq-%d", seq))
		}
	}
	got := readValues(ctx, t, n, "one-ask", kgo.ReadCommitted(), len(want))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed read %v, want %v", got, want)
	}
}

// A Produce v12 whose partitions' add the coordinator refuses (a fenced
// epoch) is refused by every partition with the coordinator's error, as
// when the partitions asked one by one, and appends nothing.
func TestTxnProduceAddRefused(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "add-refused"); err != nil {
		t.Fatal(err)
	}
	old, err := initTxn(ctx, cl, "add-refused-producer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := initTxn(ctx, cl, "add-refused-producer"); err != nil { // bumps the epoch: old is fenced
		t.Fatal(err)
	}
	for i, code := range produceTxnToAll(ctx, t, n, old, "add-refused", 2, 0, 12) {
		if code != kerr.ProducerFenced.Code && code != kerr.InvalidProducerEpoch.Code {
			t.Errorf("partition %d: %s, want the old epoch fenced", i, kerr.ErrorForCode(code))
		}
	}
	offsets, err := kadm.NewClient(cl).ListEndOffsets(ctx, "add-refused")
	if err != nil {
		t.Fatal(err)
	}
	offsets.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("partition %d holds %d records after a refused produce", o.Partition, o.Offset)
		}
	})
}

// franz-go pipelines up to five Produce requests of one transaction (at
// transaction.version 2, Produce v12): the first adds the partitions, the
// next may go out before its answer. Each partition must still take the
// produces in the order they were sent: every committed record lands once,
// in order (a later produce overtaking an earlier one at a partition would
// be refused as out of order, failing the transaction).
func TestTxnPipelinedProducesKeepTheirOrder(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	const partitions, perTxn, txns = 6, 100, 20
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, partitions, 1, nil, "pipelined"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("pipelined-producer"), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range txns {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produceRange(ctx, t, cl, "pipelined", partitions, i*perTxn, (i+1)*perTxn)
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
	}
	checkExactlyOnceInOrder(t, consumeValues(ctx, t, n, "pipelined", partitions*perTxn*txns), perTxn*txns)
}

// A Produce v12 to a broker whose transaction coordinator is on another
// broker adds all the broker's partitions in one AddPartitionsToTxn too,
// not one per partition one after the other (each of those an append of
// its own, and on RF3 a fetch round trip of each follower); the
// transaction commits with all of them.
func TestTxnProduceAddsItsPartitionsInOneRemoteAsk(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Txns = TxnConfig{StateLogPartitions: 3, StateLogReplicationFactor: 3, StateLogMinISR: 2}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 6, 3, nil, "remote-add"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("remote-add", 6)
	c.waitISRFull(active, "remote-add", 6)
	p, err := initTxn(ctx, newClient(t, c.node(active)), "remote-add-producer")
	if err != nil {
		t.Fatal(err)
	}
	img := c.node(active).routes.load().image
	state, _ := img.Topic(txn.StateTopic)
	coordinator := state.Partitions[txn.PartitionFor(p.id, state.PartitionCount())].Leader
	topic, _ := img.Topic("remote-add")
	byLeader := map[int32][]int32{}
	for i, part := range topic.Partitions {
		byLeader[part.Leader] = append(byLeader[part.Leader], int32(i))
	}
	var b int32 = -1
	for id, parts := range byLeader {
		if id != coordinator && len(parts) >= 2 {
			b = id
		}
	}
	if b < 0 {
		t.Fatalf("no broker but the coordinator %d leads two partitions: %v", coordinator, byLeader)
	}
	n := c.node(int(b - 1))
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(p.id), -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "remote-add"
	for _, part := range byLeader[b] {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = part, txnRecordBatch(p.pid, p.epoch, 0, 2)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	asked := n.txns.asksSent.Load()
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), 12))
	if err != nil {
		t.Fatal(err)
	}
	for _, rp := range resp.Topics[0].Partitions {
		if rp.ErrorCode != 0 {
			t.Fatalf("partition %d: %s", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
		}
	}
	if got := n.txns.asksSent.Load() - asked; got != 1 {
		t.Errorf("a produce to %d partitions of node %d asked the coordinator on node %d %d times, want 1", len(byLeader[b]), b, coordinator, got)
	}
	cl := newClient(t, c.node(int(coordinator-1)))
	if s := describeTxn(ctx, t, cl, p.id); len(s.Topics) != 1 || len(s.Topics[0].Partitions) != len(byLeader[b]) || s.State != "Ongoing" {
		t.Fatalf("transaction %+v, want ongoing over partitions %v", s, byLeader[b])
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.id, p.pid, p.epoch, true
	if resp, err := end.RequestWith(ctx, pinnedClient(t, c.node(int(coordinator-1)), int16(kmsg.EndTxn), 5)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	got := readValues(ctx, t, n, "remote-add", kgo.ReadCommitted(), 2*len(byLeader[b]))
	if len(got) != 2*len(byLeader[b]) {
		t.Fatalf("read_committed read %v", got)
	}
}

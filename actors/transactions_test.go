package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// txnRecordBatch is idempotentRecordBatch marked transactional.
func txnRecordBatch(pid int64, epoch int16, seq int32, n int) []byte {
	b := idempotentRecordBatch(pid, epoch, seq, n)
	b[22] |= 0x10 // attributes: transactional
	logstore.ChecksumBatch(b)
	return b
}

// produceTxn sends a transactional Produce of one batch to topic-0.
func produceTxn(ctx context.Context, t *testing.T, n *Node, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	txnID := "txn-test"
	req.TransactionID, req.Acks, req.TimeoutMillis = &txnID, -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), 12))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// writeMarker sends WriteTxnMarkers for topic-0 at version v and returns the
// partition's error code.
func writeMarker(ctx context.Context, t *testing.T, n *Node, v int16, topic string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, 1
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.WriteTxnMarkers), v))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != v || len(resp.Markers) != 1 || resp.Markers[0].ProducerID != pid {
		t.Fatalf("WriteTxnMarkers v%d answer %+v", v, resp)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

// endOffsets lists topic-0's end offset at both isolation levels.
func endOffsets(ctx context.Context, t *testing.T, n *Node, topic string) (committed, uncommitted int64) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, n))
	c, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	u, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	co, _ := c.Lookup(topic, 0)
	uo, _ := u.Lookup(topic, 0)
	return co.Offset, uo.Offset
}

// readIsolated reads topic-0 from the start at an isolation level until want
// records came, and returns their values.
func readIsolated(ctx context.Context, t *testing.T, n *Node, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	var got []string
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records (read_committed %t): %v", len(got), want, committed, got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

// A transaction on a partition: its records are held back from
// read_committed readers (the last stable offset stays at its first record)
// until its marker; an aborted transaction's records are listed as aborted,
// so read_committed consumers skip them while read_uncommitted ones see
// them; DescribeProducers shows the open transaction.
func TestTransactionMarkersAndReadCommitted(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	n.txns.unverified.Store(true) // markers written by hand, no coordinator
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "txn"); err != nil {
		t.Fatal(err)
	}
	pid := initProducerID(ctx, t, n, nil).ProducerID
	if rp := produceTxn(ctx, t, n, "txn", txnRecordBatch(pid, 0, 0, 2)); rp.ErrorCode != 0 || rp.BaseOffset != 0 {
		t.Fatalf("transactional produce: %+v", rp)
	}
	if c, u := endOffsets(ctx, t, n, "txn"); c != 0 || u != 2 {
		t.Fatalf("open transaction: end offsets committed %d uncommitted %d", c, u)
	}
	desc := describeProducers(ctx, t, n, 0, "txn")
	if len(desc) != 1 || desc[0].ProducerID != pid || desc[0].CurrentTxnStartOffset != 0 || desc[0].LastSequence != 1 {
		t.Fatalf("DescribeProducers: %+v", desc)
	}
	if code := writeMarker(ctx, t, n, 1, "txn", pid, 0, false); code != 0 { // abort at 2
		t.Fatalf("abort marker: error %d", code)
	}
	if c, u := endOffsets(ctx, t, n, "txn"); c != 3 || u != 3 {
		t.Fatalf("after the abort: end offsets committed %d uncommitted %d", c, u)
	}
	if rp := produceTxn(ctx, t, n, "txn", txnRecordBatch(pid, 0, 2, 2)); rp.ErrorCode != 0 || rp.BaseOffset != 3 {
		t.Fatalf("second transaction: %+v", rp)
	}
	if code := writeMarker(ctx, t, n, 0, "txn", pid, 0, true); code != 0 { // commit at 5
		t.Fatalf("commit marker: error %d", code)
	}
	if got := readIsolated(ctx, t, n, "txn", true, 2); fmt.Sprint(got) != "[seq-2 seq-3]" {
		t.Fatalf("read_committed read %v", got)
	}
	if got := readIsolated(ctx, t, n, "txn", false, 4); fmt.Sprint(got) != "[seq-0 seq-1 seq-2 seq-3]" {
		t.Fatalf("read_uncommitted read %v", got)
	}
	if desc := describeProducers(ctx, t, n, 0, "txn"); len(desc) != 1 || desc[0].CurrentTxnStartOffset != -1 || desc[0].CoordinatorEpoch != 1 {
		t.Fatalf("DescribeProducers after the commit: %+v", desc)
	}
	// A marker of an older producer epoch is refused.
	if rp := produceTxn(ctx, t, n, "txn", txnRecordBatch(pid, 1, 0, 1)); rp.ErrorCode != 0 {
		t.Fatalf("new epoch: %+v", rp)
	}
	if code := writeMarker(ctx, t, n, 1, "txn", pid, 0, true); code == 0 {
		t.Fatal("a marker of an old epoch was written")
	}
}

// describeProducers asks DescribeProducers v for topic-0.
func describeProducers(ctx context.Context, t *testing.T, n *Node, v int16, topic string) []kmsg.DescribeProducersResponseTopicPartitionActiveProducer {
	t.Helper()
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeProducers), v))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != v || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DescribeProducers v%d: %+v", v, resp)
	}
	return resp.Topics[0].Partitions[0].ActiveProducers
}

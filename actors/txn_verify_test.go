package actors

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceTxnTo sends a transactional Produce of one batch to topic's
// partition p as producer tp and returns the partition's error code.
func produceTxnTo(ctx context.Context, t *testing.T, n *Node, tp txnProducer, topic string, p int32, batch []byte) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(tp.id), -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), 9))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// A transactional produce is verified (KIP-890 part 1) until the
// partition holds a batch of the transaction; once the transaction ended
// (its marker written), a late produce of it is verified again and
// refused, so it cannot open a hanging transaction; a partition never
// added is refused from the start.
func TestTxnProduceVerifiedAgainAfterMarker(t *testing.T) {
	if !markersServed() {
		t.Skip("markers not served")
	}
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "late"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "late-producer")
	if err != nil {
		t.Fatal(err)
	}
	if code := produceTxnTo(ctx, t, n, p, "late", 0, txnRecordBatch(p.pid, p.epoch, 0, 2)); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce before the partition was added: %s", kerr.ErrorForCode(code))
	}
	if err := p.addPartition(ctx, cl, "late", 0); err != nil {
		t.Fatal(err)
	}
	for seq := int32(0); seq < 6; seq += 2 {
		if code := produceTxnTo(ctx, t, n, p, "late", 0, txnRecordBatch(p.pid, p.epoch, seq, 2)); code != 0 {
			t.Fatalf("produce seq %d in the transaction: %s", seq, kerr.ErrorForCode(code))
		}
	}
	if code := produceTxnTo(ctx, t, n, p, "late", 1, txnRecordBatch(p.pid, p.epoch, 0, 1)); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition not in the transaction: %s", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = p.id, p.pid, p.epoch, true
	// v4: no epoch bump (KIP-890 part 2), the late produce has the
	// transaction's epoch still.
	if resp, err := end.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.EndTxn), 4)); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, resp)
	}
	awaitTxnState(ctx, t, cl, p.id, func(s kmsg.DescribeTransactionsResponseTransactionState) bool { return s.State == "CompleteCommit" })
	if code := produceTxnTo(ctx, t, n, p, "late", 0, txnRecordBatch(p.pid, p.epoch, 6, 1)); code != kerr.InvalidTxnState.Code {
		t.Fatalf("a late produce after the marker: %s", kerr.ErrorForCode(code))
	}
	// Added again (a next transaction), the partition takes the produce.
	if err := p.addPartition(ctx, cl, "late", 0); err != nil {
		t.Fatal(err)
	}
	if code := produceTxnTo(ctx, t, n, p, "late", 0, txnRecordBatch(p.pid, p.epoch, 6, 1)); code != 0 {
		t.Fatalf("produce in the next transaction: %s", kerr.ErrorForCode(code))
	}
}

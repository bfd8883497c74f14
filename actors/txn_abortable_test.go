package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A transactional produce to a partition not in the producer's transaction
// is refused as Kafka's brokers refuse it, by the version franz-go
// negotiates: INVALID_TXN_STATE up to Produce v10, TRANSACTION_ABORTABLE
// from v11 (KIP-890: the client aborts and goes on). The same for the
// offsets of a TxnOffsetCommit sent without AddOffsetsToTxn (v3 against
// v4): they are not appended, so no transaction is left open on the
// offsets partition; after AddOffsetsToTxn they are.
func TestTxnUnverifiedRefusalByVersion(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "unadded"); err != nil {
		t.Fatal(err)
	}
	p, err := initTxn(ctx, cl, "unadded-producer")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		version int16
		want    int16
	}{{3, kerr.InvalidTxnState.Code}, {10, kerr.InvalidTxnState.Code}, {11, kerr.TransactionAbortable.Code}} {
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(p.id), -1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "unadded"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = txnRecordBatch(p.pid, p.epoch, 0, 1)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), c.version))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != c.version {
			t.Fatalf("franz-go sent Produce v%d, want v%d", resp.Version, c.version)
		}
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != c.want {
			t.Errorf("Produce v%d: %s, want %s", c.version, kerr.ErrorForCode(got), kerr.ErrorForCode(c.want))
		}
	}
	txnOffsetCommit := func(version int16) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = p.id, "unadded-group", p.pid, p.epoch
		req.Generation, req.MemberID = -1, ""
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "unadded"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.TxnOffsetCommit), version))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != version {
			t.Fatalf("franz-go sent TxnOffsetCommit v%d, want v%d", resp.Version, version)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		version int16
		want    int16
	}{{3, kerr.InvalidTxnState.Code}, {4, kerr.TransactionAbortable.Code}} {
		if got := txnOffsetCommit(c.version); got != c.want {
			t.Errorf("TxnOffsetCommit v%d without AddOffsetsToTxn: %s, want %s", c.version, kerr.ErrorForCode(got), kerr.ErrorForCode(c.want))
		}
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = p.id, p.pid, p.epoch, "unadded-group"
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	if got := txnOffsetCommit(4); got != 0 {
		t.Errorf("TxnOffsetCommit v4 after AddOffsetsToTxn: %s", kerr.ErrorForCode(got))
	}
}

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
// from v11 (KIP-890: the client aborts and goes on).
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
}

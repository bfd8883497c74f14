package txn

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAnswerCode: a partition gets its own code from a one-transaction
// answer, the request's error when it has one, and NOT_ENOUGH_REPLICAS for
// the coordinator's own troubles and for an answer that does not name it.
func TestAnswerCode(t *testing.T) {
	answer := func(reqErr int16, topic string, partition int32, code int16) kmsg.Response {
		r := kmsg.NewPtrAddPartitionsToTxnResponse()
		r.ErrorCode = reqErr
		tx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		tp := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		tp.Topic = topic
		p := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
		p.Partition, p.ErrorCode = partition, code
		tp.Partitions = append(tp.Partitions, p)
		tx.Topics = append(tx.Topics, tp)
		r.Transactions = append(r.Transactions, tx)
		return r
	}
	for _, tt := range []struct {
		name string
		resp kmsg.Response
		want int16
	}{
		{"appended", answer(0, "t", 1, 0), 0},
		{"not in the transaction", answer(0, "t", 1, kerr.TransactionAbortable.Code), kerr.TransactionAbortable.Code},
		{"fenced", answer(0, "t", 1, kerr.ProducerFenced.Code), kerr.ProducerFenced.Code},
		{"coordinator loading", answer(0, "t", 1, kerr.CoordinatorLoadInProgress.Code), kerr.NotEnoughReplicas.Code},
		{"request error", answer(kerr.NotCoordinator.Code, "t", 1, 0), kerr.NotEnoughReplicas.Code},
		{"other partition", answer(0, "t", 2, 0), kerr.NotEnoughReplicas.Code},
		{"other topic", answer(0, "u", 1, 0), kerr.NotEnoughReplicas.Code},
		{"not an answer", kmsg.NewPtrEndTxnResponse(), kerr.NotEnoughReplicas.Code},
	} {
		if got := AnswerCode(tt.resp, "t", 1); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

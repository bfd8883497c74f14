package cluster

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The refusal of an unverified transactional produce by request version,
// as Kafka's brokers answer: Produce v3–v10 INVALID_TXN_STATE, v11
// TRANSACTION_ABORTABLE, v12+ (an add) the coordinator's own code; the same
// for TxnOffsetCommit v0–v3, v4 and v5+; a fenced producer
// INVALID_PRODUCER_EPOCH.
func TestTxnRefusalByVersion(t *testing.T) {
	notIn := kerr.InvalidTxnState.Code // gregor's coordinator: not in the transaction
	kafkaNotIn := kerr.TransactionAbortable.Code
	tests := []struct {
		name string
		op   TxnOperation
		code int16
		want int16
	}{
		{"produce v3", TxnOperationForProduce(3), notIn, kerr.InvalidTxnState.Code},
		{"produce v10", TxnOperationForProduce(10), notIn, kerr.InvalidTxnState.Code},
		{"produce v10, Kafka's coordinator", TxnOperationForProduce(10), kafkaNotIn, kerr.InvalidTxnState.Code},
		{"produce v11", TxnOperationForProduce(11), notIn, kerr.TransactionAbortable.Code},
		{"produce v11, Kafka's coordinator", TxnOperationForProduce(11), kafkaNotIn, kerr.TransactionAbortable.Code},
		{"produce v12 add", TxnOperationForProduce(12), notIn, kerr.InvalidTxnState.Code},
		{"produce v13 add, abortable", TxnOperationForProduce(13), kafkaNotIn, kerr.TransactionAbortable.Code},
		{"txn offset commit v3", TxnOperationForTxnOffsetCommit(3), notIn, kerr.InvalidTxnState.Code},
		{"txn offset commit v4", TxnOperationForTxnOffsetCommit(4), notIn, kerr.TransactionAbortable.Code},
		{"txn offset commit v5 add", TxnOperationForTxnOffsetCommit(5), notIn, kerr.InvalidTxnState.Code},
	}
	for _, tt := range tests {
		if got := txnRefusalCode(tt.code, tt.op); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tt.want))
		}
		for _, other := range []int16{kerr.InvalidProducerIDMapping.Code, kerr.InvalidProducerEpoch.Code, kerr.NotEnoughReplicas.Code} {
			if got := txnRefusalCode(other, tt.op); got != other {
				t.Errorf("%s: %s became %s", tt.name, kerr.ErrorForCode(other), kerr.ErrorForCode(got))
			}
		}
		// Kafka's brokers answer a fenced producer's produce
		// INVALID_PRODUCER_EPOCH, which producers expect there.
		if got := txnRefusalCode(kerr.ProducerFenced.Code, tt.op); got != kerr.InvalidProducerEpoch.Code {
			t.Errorf("%s: PRODUCER_FENCED became %s, want INVALID_PRODUCER_EPOCH", tt.name, kerr.ErrorForCode(got))
		}
	}
	if TxnOperationForProduce(12) != TxnAddPartition || TxnOperationForTxnOffsetCommit(5) != TxnAddPartition {
		t.Error("Produce v12 and TxnOffsetCommit v5 add the partition")
	}
}

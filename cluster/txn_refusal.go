package cluster

import "github.com/twmb/franz-go/pkg/kerr"

// txnRefusalCode is the code a transactional produce is refused with when
// the transaction coordinator did not verify its partition (KIP-890 part
// 1), for a request of operation op. The partition not being in the
// transaction (TRANSACTION_ABORTABLE from the coordinator; older gregor
// coordinators answered INVALID_TXN_STATE) is TRANSACTION_ABORTABLE for the
// clients that know it (Produce v11+, TxnOffsetCommit v4+: the producer
// aborts and goes on) and INVALID_TXN_STATE for older ones, as Kafka's
// brokers answer (AddPartitionsToTxnManager). An add (TxnAddPartition) is
// answered the coordinator's own code: the partition was to be added, so
// INVALID_TXN_STATE there is about the transaction's state, not the
// partition. PRODUCER_FENCED is answered INVALID_PRODUCER_EPOCH, whatever
// the operation, as Kafka's brokers answer it: producers expect that code
// on a produce. Other codes pass unchanged.
func txnRefusalCode(code int16, op TxnOperation) int16 {
	if code == kerr.ProducerFenced.Code {
		return kerr.InvalidProducerEpoch.Code
	}
	notVerified := code == kerr.InvalidTxnState.Code || code == kerr.TransactionAbortable.Code
	switch {
	case !notVerified, op == TxnAddPartition:
		return code
	case op == TxnVerifyAbortable:
		return kerr.TransactionAbortable.Code
	}
	return kerr.InvalidTxnState.Code
}

package actors

import "gregor/logstore"

// verifyTransaction asks the transaction coordinator whether a transactional
// produce's partition is part of the producer's ongoing transaction
// (KIP-890 part 1, the verify-only AddPartitionsToTxn); done gets 0 or the
// error code the produce answers with. The transaction coordinator is not
// served yet, so every partition passes: Part T replaces this file with the
// real check.
func (n *Node) verifyTransaction(txnID string, producerID int64, epoch int16, tp logstore.TopicPartition, done func(errCode int16)) {
	_, _, _, _ = txnID, producerID, epoch, tp
	done(0)
}

package actors

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/netio"
	"gregor/txn"
)

// verifyTimeout bounds a verification sent to another broker.
const verifyTimeout = 10 * time.Second

// verifyTransaction asks the transaction coordinator of txnID whether tp
// is in the producer's ongoing transaction (KIP-890 part 1: the verify-only
// AddPartitionsToTxn form), for a partition leader about to append a
// transactional batch. done runs once, on any goroutine, never blocking,
// with the code the produce should answer: 0 (append), INVALID_TXN_STATE
// (the partition is not in the transaction), PRODUCER_FENCED or
// INVALID_PRODUCER_EPOCH (a stale producer), INVALID_PRODUCER_ID_MAPPING,
// or NOT_ENOUGH_REPLICAS when the coordinator cannot answer now (the
// producer retries), as Kafka's brokers answer.
func (n *Node) verifyTransaction(txnID string, producerID int64, epoch int16, tp logstore.TopicPartition, done func(errCode int16)) {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, producerID, epoch, true
	topic := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	topic.Topic, topic.Partitions = tp.Topic, []int32{tp.Partition}
	tx.Topics = append(tx.Topics, topic)
	req.Transactions = append(req.Transactions, tx)
	if n.txns.unverified.Load() {
		done(0)
		return
	}
	answer := func(resp kmsg.Response) { done(verifyCode(resp)) }

	rts := n.routes.load()
	if pid := n.txns.coordinatorFor(rts, txnID); pid != nil {
		n.system.Root.Send(pid, &txnRequest{body: req, respond: answer})
		return
	}
	leader := int32(-1)
	if t, ok := rts.image.Topic(txn.StateTopic); ok && t.PartitionCount() > 0 {
		leader = t.Partitions[txn.PartitionFor(txnID, t.PartitionCount())].Leader
	}
	c := n.txns.brokerClient(leader)
	if leader < 0 || leader == n.cfg.NodeID || c == nil {
		done(kerr.NotEnoughReplicas.Code)
		return
	}
	if err := c.Send(req, verifyTimeout, func(resp *netio.Response, err error) {
		if err != nil {
			done(kerr.NotEnoughReplicas.Code)
			return
		}
		defer resp.Release()
		answer(resp.Body)
	}); err != nil {
		done(kerr.NotEnoughReplicas.Code)
	}
}

// verifyCode reads the one partition's code of a verification answer.
func verifyCode(resp kmsg.Response) int16 {
	r, ok := resp.(*kmsg.AddPartitionsToTxnResponse)
	code := kerr.UnknownServerError.Code
	switch {
	case !ok:
	case r.ErrorCode != 0:
		code = r.ErrorCode
	case len(r.Transactions) == 1 && len(r.Transactions[0].Topics) == 1 && len(r.Transactions[0].Topics[0].Partitions) == 1:
		code = r.Transactions[0].Topics[0].Partitions[0].ErrorCode
	}
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.UnknownServerError.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// txnAskRequest is the broker form of AddPartitionsToTxn for asks of one
// transaction: v4 to verify, v5 to add (VerifyOnly false).
func txnAskRequest(txnID string, asks []txnAsk) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, asks[0].producerID, asks[0].epoch, !asks[0].add
	if asks[0].add {
		req.Version = 5
	}
	add := func(tp logstore.TopicPartition) {
		i := slices.IndexFunc(tx.Topics, func(t kmsg.AddPartitionsToTxnRequestTransactionTopic) bool { return t.Topic == tp.Topic })
		if i < 0 {
			topic := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			topic.Topic = tp.Topic
			tx.Topics = append(tx.Topics, topic)
			i = len(tx.Topics) - 1
		}
		if !slices.Contains(tx.Topics[i].Partitions, tp.Partition) {
			tx.Topics[i].Partitions = append(tx.Topics[i].Partitions, tp.Partition)
		}
	}
	for _, a := range asks {
		add(a.tp)
		for _, tp := range a.more {
			add(tp)
		}
	}
	req.Transactions = append(req.Transactions, tx)
	return req
}

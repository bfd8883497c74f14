package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/txn"
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

// verifyCode reads tp's code in the answer to a request of one
// transaction, and turns the coordinator's own troubles into
// NOT_ENOUGH_REPLICAS, which every producer retries.
func verifyCode(resp kmsg.Response, tp logstore.TopicPartition) int16 {
	r, ok := resp.(*kmsg.AddPartitionsToTxnResponse)
	code := kerr.UnknownServerError.Code
	switch {
	case !ok:
	case r.ErrorCode != 0:
		code = r.ErrorCode
	case len(r.Transactions) == 1:
		for _, t := range r.Transactions[0].Topics {
			if t.Topic != tp.Topic {
				continue
			}
			for _, p := range t.Partitions {
				if p.Partition == tp.Partition {
					code = p.ErrorCode
				}
			}
		}
	}
	return txn.AskCode(code)
}

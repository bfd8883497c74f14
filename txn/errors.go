package txn

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrorResponse answers a transaction request with code in every part:
// what a coordinator that is loading answers, and what a request that
// reaches no coordinator gets (NOT_COORDINATOR). It panics for other
// requests.
func ErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		resp := kmsg.NewPtrInitProducerIDResponse()
		resp.Version, resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = r.Version, code, -1, -1
		return resp
	case *kmsg.AddPartitionsToTxnRequest:
		return addPartitionsError(r, code)
	case *kmsg.AddOffsetsToTxnRequest:
		resp := kmsg.NewPtrAddOffsetsToTxnResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.EndTxnRequest:
		resp := kmsg.NewPtrEndTxnResponse()
		resp.Version, resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = r.Version, code, -1, -1
		return resp
	case *kmsg.DescribeTransactionsRequest:
		resp := kmsg.NewPtrDescribeTransactionsResponse()
		resp.Version = r.Version
		for _, id := range r.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode, s.ProducerID, s.ProducerEpoch, s.StartTimestamp = id, code, -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
		return resp
	case *kmsg.ListTransactionsRequest:
		resp := kmsg.NewPtrListTransactionsResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	}
	panic(fmt.Sprintf("txn: no error response for %s", kmsg.NameForKey(req.Key())))
}

// addPartitionsError answers every partition of every transaction with
// code (v4+: the codes are per partition; the top-level code stays 0).
func addPartitionsError(r *kmsg.AddPartitionsToTxnRequest, code int16) *kmsg.AddPartitionsToTxnResponse {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = r.Version
	if r.Version <= 3 {
		for _, t := range r.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tx := range r.Transactions {
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

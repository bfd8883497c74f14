package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
	"gregor/txn"
)

// The transaction APIs: each request goes to the coordinator of its
// transactional id (the leader of the id's __transaction_state partition);
// batched requests are split by coordinator and their answers merged.

// handleTxn routes a transaction request; it reports false for others.
func (r *router) handleTxn(req *netio.Request, respond func(kmsg.Response)) bool {
	switch body := req.Body.(type) {
	case *kmsg.AddPartitionsToTxnRequest:
		r.addPartitionsToTxn(body, respond)
	case *kmsg.AddOffsetsToTxnRequest:
		r.toTxnCoordinator(body, body.TransactionalID, respond)
	case *kmsg.EndTxnRequest:
		r.toTxnCoordinator(body, body.TransactionalID, respond)
	case *kmsg.DescribeTransactionsRequest:
		r.describeTransactions(body, respond)
	case *kmsg.ListTransactionsRequest:
		r.listTransactions(body, respond)
	default:
		return false
	}
	return true
}

// toTxnCoordinator sends a request about one transactional id to its
// coordinator, or answers NOT_COORDINATOR when this node is not it.
func (r *router) toTxnCoordinator(body kmsg.Request, txnID string, respond func(kmsg.Response)) {
	rt := r.node.routes.load()
	pid := r.node.txns.coordinatorFor(rt, txnID)
	if pid == nil {
		respond(txn.ErrorResponse(body, kerr.NotCoordinator.Code))
		return
	}
	r.node.system.Root.Send(pid, &txnRequest{body: body, respond: respond, inline: r.node.txns.runsOnReader(rt, txnID)})
}

// initTxnProducerID serves InitProducerId with a transactional id.
func (r *router) initTxnProducerID(body *kmsg.InitProducerIDRequest, respond func(kmsg.Response)) {
	r.toTxnCoordinator(body, *body.TransactionalID, respond)
}

// addPartitionsToTxn checks that the partitions exist (else
// UNKNOWN_TOPIC_OR_PARTITION for them and OPERATION_NOT_ATTEMPTED for the
// rest, as Kafka answers) and sends each transaction to its coordinator.
func (r *router) addPartitionsToTxn(body *kmsg.AddPartitionsToTxnRequest, respond func(kmsg.Response)) {
	img := r.node.routes.load().image
	exists := func(topic string, p int32) bool {
		t, ok := img.Topic(topic)
		return ok && p >= 0 && p < t.PartitionCount()
	}
	if body.Version <= 3 {
		resp := txn.ErrorResponse(body, kerr.OperationNotAttempted.Code).(*kmsg.AddPartitionsToTxnResponse)
		missing := false
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; !exists(resp.Topics[i].Topic, p.Partition) {
					p.ErrorCode, missing = kerr.UnknownTopicOrPartition.Code, true
				}
			}
		}
		if missing {
			respond(resp)
			return
		}
		r.toTxnCoordinator(body, body.TransactionalID, respond)
		return
	}
	// Brokers' batches: one request per transaction, answers merged in
	// order.
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = body.Version
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(body.Transactions))
	askEach(len(body.Transactions), func(i int, answered func(merge func())) {
		tx := body.Transactions[i]
		one := kmsg.NewPtrAddPartitionsToTxnRequest()
		one.Version, one.Transactions = body.Version, []kmsg.AddPartitionsToTxnRequestTransaction{tx}
		r.toTxnCoordinator(one, tx.TransactionalID, func(part kmsg.Response) {
			answered(func() {
				if p := part.(*kmsg.AddPartitionsToTxnResponse); len(p.Transactions) == 1 {
					resp.Transactions[i] = p.Transactions[0]
				}
			})
		})
	}, func() { respond(resp) })
}

// describeTransactions splits the ids by coordinator and merges the
// answers in the request's order.
func (r *router) describeTransactions(body *kmsg.DescribeTransactionsRequest, respond func(kmsg.Response)) {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	resp.Version = body.Version
	resp.TransactionStates = make([]kmsg.DescribeTransactionsResponseTransactionState, len(body.TransactionalIDs))
	askEach(len(body.TransactionalIDs), func(i int, answered func(merge func())) {
		id := body.TransactionalIDs[i]
		one := kmsg.NewPtrDescribeTransactionsRequest()
		one.Version, one.TransactionalIDs = body.Version, []string{id}
		r.toTxnCoordinator(one, id, func(part kmsg.Response) {
			answered(func() {
				if p := part.(*kmsg.DescribeTransactionsResponse); len(p.TransactionStates) == 1 {
					resp.TransactionStates[i] = p.TransactionStates[0]
				}
			})
		})
	}, func() { respond(resp) })
}

// listTransactions asks every coordinator on this node and merges their
// lists; a coordinator still loading makes the answer
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka's.
func (r *router) listTransactions(body *kmsg.ListTransactionsRequest, respond func(kmsg.Response)) {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.Version = body.Version
	fo := &fanOut[kmsg.Response]{}
	for _, pid := range *r.node.txns.coordinators.Load() {
		fo.ask(pid, func(part kmsg.Response) {
			p := part.(*kmsg.ListTransactionsResponse)
			if p.ErrorCode != 0 && p.ErrorCode != kerr.NotCoordinator.Code && resp.ErrorCode == 0 {
				resp.ErrorCode = p.ErrorCode
			}
			resp.TransactionStates = append(resp.TransactionStates, p.TransactionStates...)
			resp.UnknownStateFilters = p.UnknownStateFilters
		}, func(reply func(kmsg.Response)) any { return &txnRequest{body: body, respond: reply} })
	}
	fo.run(r.node.system.Root, groupBatchTimeout, func() { respond(resp) })
}

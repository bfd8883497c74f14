package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// verifyTransactionalProduce hands a transactional Produce to its
// partitions, which verify each transactional batch with the transaction
// coordinator when they do not know its transaction as ongoing (KIP-890
// part 1; the decision is the replica core's, see
// cluster/replica_txn_verify.go and txn_partition_verify.go). An empty
// transactional id is refused.
func (r *router) verifyTransactionalProduce(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response)) {
	if transactionalIDOf(body) == "" {
		r.failProduce(body, body.ResponseKind().(*kmsg.ProduceResponse), kerr.InvalidRequest.Code, respond)
		return
	}
	r.producePartitions(req, body, respond)
}

// transactionalIDOf is a Produce request's transactional id, "" when none.
func transactionalIDOf(body *kmsg.ProduceRequest) string {
	if body.TransactionID == nil {
		return ""
	}
	return *body.TransactionID
}

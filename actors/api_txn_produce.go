package actors

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/netio"
)

// verifyTransactionalProduce checks, before a transactional Produce is
// appended, that each of its partitions is in the producer's ongoing
// transaction (KIP-890 part 1: the transaction coordinator answers; a late
// produce of a transaction that ended must not open a hanging one). When
// every partition passes, the produce goes on; otherwise every partition is
// answered with the first refusal (the client retries or aborts).
func (r *router) verifyTransactionalProduce(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response)) {
	txnID := *body.TransactionID
	type check struct {
		tp         logstore.TopicPartition
		producerID int64
		epoch      int16
	}
	var checks []check
	image := r.node.routes.load().image
	for _, t := range body.Topics {
		name := t.Topic
		if body.Version >= 13 { // topics by id
			if ti, ok := image.TopicByID(t.TopicID); ok {
				name = ti.Name
			}
		}
		for _, p := range t.Partitions {
			if len(p.Records) < logstore.BatchHeaderBytes {
				continue // the replica core refuses it
			}
			info := logstore.ReadProducerBatchInfo(p.Records)
			checks = append(checks, check{tp: logstore.TopicPartition{Topic: name, Partition: p.Partition}, producerID: info.ProducerID, epoch: info.ProducerEpoch})
		}
	}
	if txnID == "" || len(checks) == 0 {
		r.failProduce(body, body.ResponseKind().(*kmsg.ProduceResponse), kerr.InvalidRequest.Code, respond)
		return
	}
	var mu sync.Mutex
	left, refused := len(checks), int16(0)
	for _, c := range checks {
		r.node.verifyTransaction(txnID, c.producerID, c.epoch, c.tp, func(code int16) {
			mu.Lock()
			left--
			if refused == 0 {
				refused = code
			}
			last, failed := left == 0, refused
			mu.Unlock()
			switch {
			case !last:
			case failed != 0:
				r.failProduce(body, body.ResponseKind().(*kmsg.ProduceResponse), failed, respond)
			default:
				r.producePartitions(req, body, respond)
			}
		})
	}
}

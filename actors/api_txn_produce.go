package actors

import (
	"encoding/binary"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/netio"
)

// verifyTransactionalProduce hands a transactional Produce to its
// partitions, which verify each transactional batch with the transaction
// coordinator when they do not know its transaction as ongoing (KIP-890
// part 1; the decision is the replica core's, see
// cluster/replica_txn_verify.go and txn_partition_verify.go). An empty
// transactional id is refused.
//
// A Produce v12+ (KIP-890 part 2) whose coordinator is on this node first
// adds all its partitions to the transaction in one ask, as Kafka's
// brokers add a request's partitions in one AddPartitionsToTxn
// (addProducedPartitions): asked one by one, the partitions' adds reach the
// coordinator a few at a time and cost an append of __transaction_state
// each.
func (r *router) verifyTransactionalProduce(req *netio.Request, body *kmsg.ProduceRequest, respond func(kmsg.Response)) {
	txnID := transactionalIDOf(body)
	if txnID == "" {
		r.failProduce(body, body.ResponseKind().(*kmsg.ProduceResponse), kerr.InvalidRequest.Code, respond)
		return
	}
	if cluster.TxnOperationForProduce(body.Version) == cluster.TxnAddPartition && r.addProducedPartitions(req, body, txnID, respond) {
		return
	}
	// A produce that cannot take the one-ask path (its coordinator moved,
	// or its batches are not one producer's) still goes to its partitions
	// after the produces of its transactional id whose add is in flight:
	// overtaking one, it would reach a partition first and be refused as
	// out of order.
	release := req.Retain()
	r.node.txns.producedAdds.follow(txnID, func(held *heldBatches) {
		r.producePartitions(req, body, respond, nil, held)
		release()
	})
}

// addProducedPartitions asks the coordinator of txnID (on this node, or in
// one AddPartitionsToTxn to its broker, sendTxnAsk) to add the partitions
// this node leads among body's to the producer's transaction, all in one
// ask, and hands body to its partitions once it is answered (a
// coordinator on another broker was asked once per partition, one request
// after the other, and the partitions appended each on its answer: on an
// RF3 cluster every such append is a fetch round trip of each follower):
// on success each partition is told in the same message, before the
// produce, that it joined the transaction (producePartition.added, so it
// appends without asking); on a refusal or a coordinator's trouble the
// partitions verify for themselves as before, and answer what they are
// told. The ask's wait is bounded (txnNode.bound): when it is not
// answered in time the partitions refuse the produce NOT_ENOUGH_REPLICAS
// (the producer retries) without asking again (producePartition.addRefusal),
// so a produce waits for the coordinator once. A produce whose
// partitions an add queued before it (of the same producer id and epoch)
// asked for asks nothing: it follows that add's outcome. It reports false, having done
// nothing, when the request does not fit (no __transaction_state yet,
// batches of more than one producer, nothing this node leads).
func (r *router) addProducedPartitions(req *netio.Request, body *kmsg.ProduceRequest, txnID string, respond func(kmsg.Response)) bool {
	x := r.node.txns
	rt := r.node.routes.load()
	if x.partitionOf(rt, txnID) < 0 || x.unverified.Load() {
		return false
	}
	ask := txnAsk{txnID: txnID, add: true, onReader: x.runsOnReader(rt, txnID)}
	var pids []*actor.PID
	seen := false
	for _, t := range body.Topics {
		topic, ok := rt.lookupTopic(t.Topic, t.TopicID, body.Version >= 13)
		if !ok || cluster.IsInternalTopic(topic.Name) {
			continue
		}
		for _, p := range t.Partitions {
			producerID, epoch, ok := transactionalProducer(p.Records)
			if !ok {
				return false
			}
			switch {
			case !seen:
				ask.producerID, ask.epoch, seen = producerID, epoch, true
			case producerID != ask.producerID || epoch != ask.epoch:
				return false
			}
			pid, code := rt.route(topic, true, false, p.Partition)
			if code != 0 || topic.Partitions[p.Partition].Leader != r.node.cfg.NodeID {
				continue
			}
			tp := logstore.TopicPartition{Topic: topic.Name, Partition: p.Partition}
			if len(pids) == 0 {
				ask.tp = tp
			} else {
				ask.more = append(ask.more, tp)
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return false
	}
	release := req.Retain() // the records wait in the queue
	run := func(code int16, held *heldBatches) {
		var addition *producedAddition
		switch code {
		case 0:
			addition = &producedAddition{ask: &ask, added: txnPartitionAdded{producerID: ask.producerID, producerEpoch: ask.epoch}}
		case kerr.RequestTimedOut.Code: // bound's expiry
			addition = &producedAddition{ask: &ask, refusal: kerr.NotEnoughReplicas.Code}
		}
		r.producePartitions(req, body, respond, addition, held)
		release()
	}
	queued, how := x.producedAdds.begin(ask, run)
	switch how {
	case produceStraight:
		release()
		return false // its partitions are in the transaction: straight to them
	case produceAfterAdd:
		return true // an add in flight asked for its partitions: it goes with that add's outcome
	}
	asked := ask // for ready, which reads no done
	ask.done = func(code int16) { x.producedAdds.ready(asked, queued, code) }
	x.bound(&ask, kerr.RequestTimedOut.Code)
	r.node.sendTxnAsk(ask)
	return true
}

// transactionalProducer reads the producer id and epoch of a produced
// transactional data batch; ok is false for anything else (a malformed,
// non-transactional or control batch), which its partition judges.
func transactionalProducer(records []byte) (producerID int64, epoch int16, ok bool) {
	const magicPos, attributesPos, producerIDPos, epochPos = 16, 21, 43, 51
	if len(records) < logstore.BatchHeaderBytes || records[magicPos] != 2 {
		return 0, 0, false
	}
	attrs := binary.BigEndian.Uint16(records[attributesPos:])
	producerID, epoch = int64(binary.BigEndian.Uint64(records[producerIDPos:])), int16(binary.BigEndian.Uint16(records[epochPos:]))
	return producerID, epoch, attrs&0x10 != 0 && attrs&0x20 == 0 && producerID >= 0 && epoch >= 0
}

// transactionalIDOf is a Produce request's transactional id, "" when none.
func transactionalIDOf(body *kmsg.ProduceRequest) string {
	if body.TransactionID == nil {
		return ""
	}
	return *body.TransactionID
}

// producedAddition is what a produce's one ask did: the partitions it
// asked for and the producer's transaction they joined, or, with refusal
// set, the code they refuse the produce with (the ask was not answered in
// time).
type producedAddition struct {
	ask     *txnAsk
	added   txnPartitionAdded
	refusal int16
}

// of is the news for a partition of topic the ask added, nil for any
// other (and for a nil addition, or a refused one).
func (a *producedAddition) of(topic string, partition int32) *txnPartitionAdded {
	if a == nil || a.refusal != 0 || !a.ask.asks(logstore.TopicPartition{Topic: topic, Partition: partition}) {
		return nil
	}
	return &a.added
}

// refusalOf is the code a partition of topic the ask was for refuses the
// produce with, without asking, 0 for none.
func (a *producedAddition) refusalOf(topic string, partition int32) int16 {
	if a == nil || !a.ask.asks(logstore.TopicPartition{Topic: topic, Partition: partition}) {
		return 0
	}
	return a.refusal
}

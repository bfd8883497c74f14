package actors

import (
	"gregor/cluster"
	"gregor/logstore"
	"gregor/txn"
)

// txnVerified carries a transaction coordinator's answer to a partition's
// verification of a transactional produce (cluster.VerifyTxn).
type txnVerified struct {
	id   cluster.RequestID
	code int16
}

// verifyTxns asks the coordinators to verify the transactional produces the
// core holds back (KIP-890 part 1), or to add the partition to their
// transactions (part 2) when the core says so (it asks only for a producer
// whose transaction the partition does not know as ongoing), and feeds
// each answer back as txnVerified. A produce whose request's one add was
// not answered in time (producePartition.addRefusal) asks nothing: it gets
// that refusal at once, so its producer's batches stay in order behind it
// and the produce waits for the coordinator only once.
func (a *partitionActor) verifyTxns(vs []cluster.VerifyTxn) {
	tp := logstore.TopicPartition{Topic: a.assigned.topic, Partition: a.assigned.image.Partition}
	self, root := a.self, a.node.system.Root
	for _, v := range vs {
		if a.node.txns.unverified.Load() {
			a.core.TxnVerified(v.ID, 0, a.node.cfg.Clock.Now())
			continue
		}
		if m := a.producing.get(v.ID); m != nil && m.addRefusal != 0 {
			a.core.TxnVerified(v.ID, m.addRefusal, a.node.cfg.Clock.Now())
			continue
		}
		done := func(code int16) { root.Send(self, &txnVerified{id: v.ID, code: code}) }
		if v.Add {
			a.node.addToTransaction(v.TransactionalID, v.ProducerID, v.ProducerEpoch, tp, done)
		} else {
			a.node.verifyTransaction(v.TransactionalID, v.ProducerID, v.ProducerEpoch, tp, done)
		}
	}
}

// txnPartitionAdded tells a partition that the producer's ongoing
// transaction holds it (txn.PartitionsAdded).
type txnPartitionAdded struct {
	producerID    int64
	producerEpoch int16
}

// partitionsAdded tells the partitions this node hosts that they joined
// transactions; the others verify on their first produce. It runs on the
// coordinator's goroutine before the replies, so each message is ahead of
// the producer's produce and of the transaction's markers in the
// partition's mailbox.
//
// A partition that appends small batches on their sender's goroutine
// (runsSmall) and is found idle is run by runs, on the coordinator's
// goroutine once it answered (as its markers are,
// txnCoordinator.writeMarkers), not on a worker woken for it: a client's
// AddPartitionsToTxn (transaction version 1: librdkafka, sarama, the Java
// client before 4.0) would otherwise wake a goroutine for each partition
// it added, for a message the partition handles in a few hundred
// nanoseconds. A produce that reaches the partition before that run joins
// the message's batch and is appended with it. A partition whose log syncs
// after appends gets the message through a worker (produceQueues.send).
func (x *txnNode) partitionsAdded(added []txn.PartitionsAdded, runs *inlineRuns) {
	rts, root := x.n.routes.load(), x.n.system.Root
	for _, a := range added {
		for _, tp := range a.Partitions {
			if pid := rts.partition(tp.Topic, tp.Partition); pid != nil {
				// Through the produce queue, which the produce takes too.
				msg := &txnPartitionAdded{producerID: a.ProducerID, producerEpoch: a.ProducerEpoch}
				if x.n.runsSmall(pid) {
					x.n.produceQueues.sendTo(root, pid, msg, true, runs)
					continue
				}
				x.n.produceQueues.send(root, pid, msg)
			}
		}
	}
}

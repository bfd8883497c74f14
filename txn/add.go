package txn

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// addPartitionsToTxn serves AddPartitionsToTxn: v0–v3 from a producer for
// its one transaction; v4+ from brokers, batching transactions, each either
// verification only (KIP-890 part 1: is the partition in the ongoing
// transaction?) or adding on the producer's behalf (part 2). Every
// transaction of the request must hash to this coordinator.
func (c *Coordinator) addPartitionsToTxn(id internaltopic.RequestID, r *kmsg.AddPartitionsToTxnRequest, now internaltopic.Time) {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = r.Version
	if r.Version <= 3 {
		var tps []TopicPartition
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, TopicPartition{t.Topic, p})
			}
		}
		c.addPartitions(r.TransactionalID, r.ProducerID, r.ProducerEpoch, tps, false, now, func(code int16) {
			code = fencedCode(code, r.Version, 2)
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
			c.reply(id, resp)
		})
		return
	}
	// Broker batches: answer once every transaction has its answer.
	left := len(r.Transactions)
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(r.Transactions))
	if left == 0 {
		c.reply(id, resp)
		return
	}
	for i, tx := range r.Transactions {
		rt := &resp.Transactions[i]
		*rt = kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		var tps []TopicPartition
		for _, t := range tx.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, TopicPartition{t.Topic, p})
			}
		}
		answer := func(codeOf func(TopicPartition) int16) {
			for _, t := range tx.Topics {
				rtt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rtt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p, codeOf(TopicPartition{t.Topic, p})
					rtt.Partitions = append(rtt.Partitions, rp)
				}
				rt.Topics = append(rt.Topics, rtt)
			}
			if left--; left == 0 {
				c.reply(id, resp)
			}
		}
		if tx.VerifyOnly {
			answer(c.verify(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch))
			continue
		}
		c.addPartitions(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps, true, now, func(code int16) {
			answer(func(TopicPartition) int16 { return code })
		})
	}
}

// HandleAdd takes a partition leader's add of tps to the transaction of
// txnID's producer at time now (KIP-890 part 2), from a broker on the
// coordinator's node: what AddPartitionsToTxn v5 with one transaction,
// not verify-only, asks, without its request and answer built. Its Reply
// carries the outcome in Code.
func (c *Coordinator) HandleAdd(id internaltopic.RequestID, txnID string, producerID int64, epoch int16, tps []TopicPartition, now internaltopic.Time) {
	answer := func(code int16) { c.ready.Replies = append(c.ready.Replies, Reply{ID: id, Code: code}) }
	if c.loading {
		answer(kerr.CoordinatorLoadInProgress.Code)
		return
	}
	c.addPartitions(txnID, producerID, epoch, tps, true, now, answer)
}

// verify is the verification-only form: each partition is answered 0 when
// it is in the producer's ongoing transaction, TRANSACTION_ABORTABLE when
// not, as Kafka's coordinator answers (a broker turns it into
// INVALID_TXN_STATE for a producer too old to know it).
func (c *Coordinator) verify(txnID string, producerID int64, epoch int16) func(TopicPartition) int16 {
	all := func(code int16) func(TopicPartition) int16 { return func(TopicPartition) int16 { return code } }
	t := c.txns[txnID]
	switch {
	case t == nil || t.producerID != producerID:
		return all(kerr.InvalidProducerIDMapping.Code)
	case t.fenced(epoch):
		return all(kerr.ProducerFenced.Code)
	case t.pending != nil && t.pending.state != Ongoing, t.state == PrepareCommit, t.state == PrepareAbort:
		return all(kerr.ConcurrentTransactions.Code)
	}
	return func(tp TopicPartition) int16 {
		if t.state == Ongoing && t.has(tp) {
			if !c.knownPartition(tp) {
				return kerr.CoordinatorNotAvailable.Code
			}
			return 0
		}
		return kerr.TransactionAbortable.Code
	}
}

// SetTopics tells the coordinator the partition counts of the topics of
// its node's metadata image. A broker's verification or add of a partition
// the image does not hold is answered COORDINATOR_NOT_AVAILABLE (the
// producer retries, NOT_ENOUGH_REPLICAS): the markers of a partition whose
// topic the image does not hold are not written (the topic was deleted),
// so the coordinator vouches only for partitions it will write markers to.
// A coordinator behind on metadata would otherwise let a transaction
// write a topic created again under its name, which it has not heard of,
// and then skip that partition's marker: the new topic's transaction
// would hang, and its last stable offset with it (found by the simulator,
// seed 11011093 at 7 nodes of the recreate profile).
func (c *Coordinator) SetTopics(partitions map[string]int32) { c.partitions = partitions }

// knownPartition says the image holds tp's topic and partition (or the
// coordinator was not told the topics).
func (c *Coordinator) knownPartition(tp TopicPartition) bool {
	if c.partitions == nil {
		return true
	}
	n, ok := c.partitions[tp.Topic]
	return ok && tp.Partition >= 0 && tp.Partition < n
}

// addOffsetsToTxn serves AddOffsetsToTxn: the __consumer_offsets partition
// of the group joins the transaction, so the group's TxnOffsetCommits are
// committed or aborted with it.
func (c *Coordinator) addOffsetsToTxn(id internaltopic.RequestID, r *kmsg.AddOffsetsToTxnRequest, now internaltopic.Time) {
	tp := TopicPartition{internaltopic.ConsumerOffsets, internaltopic.PartitionFor(r.Group, c.cfg.OffsetsPartitions)}
	c.addPartitions(r.TransactionalID, r.ProducerID, r.ProducerEpoch, []TopicPartition{tp}, false, now, func(code int16) {
		resp := kmsg.NewPtrAddOffsetsToTxnResponse()
		resp.Version, resp.ErrorCode = r.Version, fencedCode(code, r.Version, 2)
		c.reply(id, resp)
	})
}

// addPartitions adds tps to the producer's transaction, opening it if none
// is, and calls done with the outcome once the state is appended (at once
// when every partition is in the transaction already). byBroker marks a
// broker adding for a producer of KIP-890 part 2: that broker's partition
// asked, and is answered, so it is not told of the add (PartitionsAdded).
func (c *Coordinator) addPartitions(txnID string, producerID int64, epoch int16, tps []TopicPartition, byBroker bool,
	now internaltopic.Time, done func(code int16)) {
	if byBroker && slices.ContainsFunc(tps, func(tp TopicPartition) bool { return !c.knownPartition(tp) }) {
		// A partition leader adds for a part 2 producer: as verify.
		done(kerr.CoordinatorNotAvailable.Code)
		return
	}
	add := parkedAdd{producerID: producerID, epoch: epoch, tps: tps, byBroker: byBroker, done: done}
	if !byBroker {
		add.announce = tps
	}
	c.addParked(txnID, add, now)
}

// addParked is addPartitions of an add as it waits (parkedAdd).
func (c *Coordinator) addParked(txnID string, parkable parkedAdd, now internaltopic.Time) {
	t := c.txns[txnID]
	producerID, epoch, tps, byBroker, done := parkable.producerID, parkable.epoch, parkable.tps, parkable.byBroker, parkable.done
	switch {
	case t == nil:
		done(kerr.InvalidProducerIDMapping.Code)
		return
	case t.nextProducerID >= 0 && producerID == t.nextProducerID && epoch == 0 && c.park(t, parkable):
		// The first request under the producer id an exhausted epoch
		// moved to (the EndTxn answer gave it): it runs once the
		// completion made that id the transactional id's.
		c.completeNow(t, now)
		return
	case t.producerID != producerID:
		done(kerr.InvalidProducerIDMapping.Code)
		return
	case t.fenced(epoch):
		done(kerr.ProducerFenced.Code)
		return
	case c.park(t, parkable):
		c.completeNow(t, now) // a waiting completion goes with it
		return
	case t.pending != nil, t.state == PrepareCommit, t.state == PrepareAbort:
		done(kerr.ConcurrentTransactions.Code)
		return
	case t.state == Dead, t.state == PrepareEpochFence:
		done(kerr.InvalidTxnState.Code)
		return
	}
	if t.state == Ongoing {
		missing := false
		for _, tp := range tps {
			missing = missing || !t.has(tp)
		}
		if !missing {
			done(0)
			return
		}
	}
	next := t.clone()
	if t.state != Ongoing {
		next.partitions, next.startWallMs, next.startMonoMs = nil, now.WallMs, now.MonoMs
	}
	next.state, next.lastUpdateWallMs = Ongoing, now.WallMs
	next.tv2 = next.tv2 || byBroker
	next.addPartitions(tps)
	c.transit(t, next, func(code int16, _ internaltopic.Time) {
		if code == 0 && len(parkable.announce) > 0 {
			c.ready.Added = append(c.ready.Added, PartitionsAdded{ProducerID: next.producerID, ProducerEpoch: next.epoch, Partitions: parkable.announce})
		}
		done(code)
	})
}

// fencedCode answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to requests
// older than version fencedSince, which predate the code.
func fencedCode(code, version, fencedSince int16) int16 {
	if code == kerr.ProducerFenced.Code && version < fencedSince {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

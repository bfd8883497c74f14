package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/txn"
)

// txnLocalAsk carries a partition leader's add or verification to a
// coordinator on the same node.
type txnLocalAsk struct{ ask txnAsk }

// runsInline implements inlineMessage: a produce's add, which its
// connection's reader asks (api_txn_produce.go), is handled on the reader
// by an idle coordinator whose partition has no follower
// (txnNode.runsOnReader), which appends it to its partition there too:
// the add is then answered and the produce's partitions appended without
// waking a worker. A partition leader's verification goes to a worker,
// off the partition's goroutine.
func (m *txnLocalAsk) runsInline() bool { return m.ask.onReader }

// answerUndelivered answers an ask that reached no coordinator: the
// producer retries.
func (m *txnLocalAsk) answerUndelivered() { m.ask.done(kerr.NotEnoughReplicas.Code) }

// txnFlushAsks tells a coordinator to hand its core the asks it gathered.
type txnFlushAsks struct{}

// gatherAsk holds a partition's ask until the asks already in the
// mailbox are read: the partitions of one produce ask at about the same
// time, and gathered they go to the core as one request (one append)
// rather than one each. A produce's ask from its reader carries all the
// produce's partitions already: it goes to the core at once, with those
// gathered before it, so that a coordinator the reader runs (runsInline)
// appends it and takes the append's answer there too (a flush message
// would come after the messages the reader's run handles).
func (a *txnCoordinator) gatherAsk(ask txnAsk) {
	a.asks = append(a.asks, ask)
	if ask.onReader {
		a.flushAsks()
		return
	}
	if !a.flushQueued {
		a.flushQueued = true
		a.x.n.system.Root.Send(a.self, &txnFlushAsks{})
	}
}

// flushAsks hands the core the gathered asks: per transactional id, one
// request of one transaction for the asks of one producer id, epoch and
// kind (txn_verify.go's oneTransaction), each ask answered from it.
func (a *txnCoordinator) flushAsks() {
	a.flushQueued = false
	var order []string
	byID := map[string][]txnAsk{}
	for _, ask := range a.asks {
		if _, ok := byID[ask.txnID]; !ok {
			order = append(order, ask.txnID)
		}
		byID[ask.txnID] = append(byID[ask.txnID], ask)
	}
	a.asks = nil
	for _, id := range order {
		rest := byID[id]
		for len(rest) > 0 {
			var picked []txnAsk
			picked, rest = oneTransaction(rest)
			if picked[0].add {
				a.handleAdd(id, picked)
				continue
			}
			a.handle(&txnRequest{body: txnAskRequest(id, picked), respond: func(resp kmsg.Response) {
				for _, p := range picked {
					p.answer(resp)
				}
			}})
		}
	}
}

// handleAdd hands the core asks that add partitions, of one transaction,
// as one add (txn.Coordinator.HandleAdd: no AddPartitionsToTxn request
// and answer built); each ask gets its outcome.
func (a *txnCoordinator) handleAdd(txnID string, asks []txnAsk) {
	var tps []txn.TopicPartition
	add := func(tp logstore.TopicPartition) {
		t := txn.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
		if !slices.Contains(tps, t) {
			tps = append(tps, t)
		}
	}
	for _, ask := range asks {
		add(ask.tp)
		for _, tp := range ask.more {
			add(tp)
		}
	}
	a.nextID++
	a.waiting[a.nextID] = &txnRequest{answerAdd: func(code int16) {
		code = txn.AskCode(code)
		for _, ask := range asks {
			ask.done(code)
		}
	}}
	a.refreshTopics()
	a.core.HandleAdd(a.nextID, txnID, asks[0].producerID, asks[0].epoch, tps, a.now())
}

// answerAsks answers the gathered asks when the coordinator stops.
func (a *txnCoordinator) answerAsks() {
	for _, ask := range a.asks {
		ask.done(kerr.NotEnoughReplicas.Code)
	}
	a.asks = nil
}

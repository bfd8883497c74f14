package actors

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/netio"
	"gregor/txn"
)

// verifyTimeout bounds a verification sent to another broker, and the
// wait for any ask's answer (txnNode.bound).
const verifyTimeout = 10 * time.Second

// verifyTransaction asks the transaction coordinator of txnID whether tp
// is in the producer's ongoing transaction (KIP-890 part 1: the verify-only
// AddPartitionsToTxn form), for a partition leader about to append a
// transactional batch. done runs once, on any goroutine, never blocking,
// with the coordinator's code: 0 (append), TRANSACTION_ABORTABLE (the
// partition is not in the transaction), PRODUCER_FENCED or
// INVALID_PRODUCER_EPOCH (a stale producer), INVALID_PRODUCER_ID_MAPPING,
// or NOT_ENOUGH_REPLICAS when the coordinator cannot answer now (the
// producer retries), as Kafka's brokers answer.
func (n *Node) verifyTransaction(txnID string, producerID int64, epoch int16, tp logstore.TopicPartition, done func(errCode int16)) {
	n.askTxnCoordinator(txnAsk{txnID: txnID, producerID: producerID, epoch: epoch, tp: tp, done: done})
}

// addToTransaction asks the transaction coordinator of txnID to add tp to
// the producer's transaction, opening one if none is (KIP-890 part 2: the
// AddPartitionsToTxn v5 a broker sends for a producer that produced to tp
// without adding it). done runs as verifyTransaction's.
func (n *Node) addToTransaction(txnID string, producerID int64, epoch int16, tp logstore.TopicPartition, done func(errCode int16)) {
	n.askTxnCoordinator(txnAsk{txnID: txnID, producerID: producerID, epoch: epoch, tp: tp, add: true, done: done})
}

// txnAsk is one partition's verification or add, for one producer.
type txnAsk struct {
	txnID      string
	producerID int64
	epoch      int16
	tp         logstore.TopicPartition
	// more are further partitions asked for with tp, in one ask (a
	// produce's partitions, api_txn_produce.go); done gets the first
	// refusal among them all.
	more []logstore.TopicPartition
	add  bool
	done func(code int16)
	// onReader says the ask is sent from a connection's reader, which
	// may run an idle coordinator on this node (txnLocalAsk.runsInline,
	// txnNode.runsOnReader).
	onReader bool
}

// asks says whether tp is among the partitions a asks for.
func (a *txnAsk) asks(tp logstore.TopicPartition) bool {
	return tp == a.tp || slices.Contains(a.more, tp)
}

// within says whether every partition a asks for is in (in says which
// are).
func (a *txnAsk) within(in func(logstore.TopicPartition) bool) bool {
	return in(a.tp) && !slices.ContainsFunc(a.more, func(tp logstore.TopicPartition) bool { return !in(tp) })
}

// answer calls a's done with its code in resp, the answer to a request
// that carried it.
func (a *txnAsk) answer(resp kmsg.Response) {
	code := txn.AnswerCode(resp, a.tp.Topic, a.tp.Partition)
	for _, tp := range a.more {
		if code != 0 {
			break
		}
		code = txn.AnswerCode(resp, tp.Topic, tp.Partition)
	}
	a.done(code)
}

// txnAsker carries the partitions' asks to the transaction coordinators.
// An ask of a coordinator on this node goes to it at once: it gathers the
// asks in its mailbox into one request, and the core holds adds that come
// while another is appended and appends them as one. To
// another broker it goes as Kafka's AddPartitionsToTxnManager sends: one
// request at a time per transactional id; what the partitions ask
// meanwhile for that id waits and goes as one transaction of the next
// request.
type txnAsker struct {
	mu sync.Mutex
	// queues are the transactional ids with a request in flight, and
	// their asks waiting for the next one.
	queues map[string]*txnAskQueue
}

type txnAskQueue struct{ waiting []txnAsk }

// askTxnCoordinator sends a's request, or queues it behind the one in
// flight for its transactional id.
func (n *Node) askTxnCoordinator(a txnAsk) {
	if n.txns.unverified.Load() {
		a.done(0)
		return
	}
	n.txns.bound(&a, kerr.NotEnoughReplicas.Code)
	n.sendTxnAsk(a)
}

// sendTxnAsk sends a bound ask (txnNode.bound) to txnID's coordinator: to
// the actor when it is on this node, else in a request to its broker, or
// queued behind the one in flight for its transactional id.
func (n *Node) sendTxnAsk(a txnAsk) {
	n.txns.asksSent.Add(1)
	if n.txns.intercepted(a) {
		return
	}
	if pid := n.txns.coordinatorFor(n.routes.load(), a.txnID); pid != nil {
		n.system.Root.Send(pid, &txnLocalAsk{ask: a})
		return
	}
	x := &n.txns.asker
	x.mu.Lock()
	if x.queues == nil {
		x.queues = map[string]*txnAskQueue{}
	}
	if q := x.queues[a.txnID]; q != nil {
		q.waiting = append(q.waiting, a)
		x.mu.Unlock()
		return
	}
	x.queues[a.txnID] = &txnAskQueue{}
	x.mu.Unlock()
	n.sendTxnAsks(a.txnID, []txnAsk{a})
}

// txnAsksAnswered takes the next asks of txnID once its request in
// flight is answered, and sends them, or forgets the id when none wait.
func (n *Node) txnAsksAnswered(txnID string) {
	x := &n.txns.asker
	x.mu.Lock()
	q := x.queues[txnID]
	if q == nil || len(q.waiting) == 0 {
		delete(x.queues, txnID)
		x.mu.Unlock()
		return
	}
	next, rest := oneTransaction(q.waiting)
	q.waiting = rest
	x.mu.Unlock()
	n.sendTxnAsks(txnID, next)
}

// oneTransaction picks from asks, in order, those that fit one
// transaction of a request: the producer id, epoch and kind (add or
// verify) of the first. An ask of an older epoch than a later one is
// refused at once (INVALID_PRODUCER_EPOCH, as Kafka's manager answers the
// older of two producers): its producer is fenced.
func oneTransaction(asks []txnAsk) (picked, rest []txnAsk) {
	newest := asks[0]
	for _, a := range asks[1:] {
		if a.producerID == newest.producerID && a.epoch > newest.epoch {
			newest = a
		}
	}
	for _, a := range asks {
		switch {
		case a.producerID == newest.producerID && a.epoch < newest.epoch:
			a.done(kerr.InvalidProducerEpoch.Code)
		case a.producerID == newest.producerID && a.epoch == newest.epoch && a.add == newest.add:
			picked = append(picked, a)
		default:
			rest = append(rest, a)
		}
	}
	return picked, rest
}

// sendTxnAsks sends asks, all of one producer id, epoch and kind, as one
// transaction of an AddPartitionsToTxn request to txnID's coordinator: the
// actor when this node is it, else its broker.
func (n *Node) sendTxnAsks(txnID string, asks []txnAsk) {
	req := txnAskRequest(txnID, asks)
	answer := func(resp kmsg.Response) {
		for _, a := range asks {
			a.answer(resp)
		}
		n.txnAsksAnswered(txnID)
	}
	fail := func(code int16) {
		for _, a := range asks {
			a.done(code)
		}
		n.txnAsksAnswered(txnID)
	}
	rts := n.routes.load()
	if pid := n.txns.coordinatorFor(rts, txnID); pid != nil {
		n.system.Root.Send(pid, &txnRequest{body: req, respond: answer})
		return
	}
	leader := int32(-1)
	if t, ok := rts.image.Topic(txn.StateTopic); ok && t.PartitionCount() > 0 {
		leader = t.Partitions[txn.PartitionFor(txnID, t.PartitionCount())].Leader
	}
	c := n.txns.brokerClient(leader)
	if leader < 0 || leader == n.cfg.NodeID || c == nil {
		fail(kerr.NotEnoughReplicas.Code)
		return
	}
	if err := c.Send(req, verifyTimeout, func(resp *netio.Response, err error) {
		switch {
		case errors.Is(err, netio.ErrRequestTimeout):
			fail(kerr.RequestTimedOut.Code) // bound answers it as it would its own expiry
			return
		case err != nil:
			fail(kerr.NotEnoughReplicas.Code)
			return
		}
		defer resp.Release()
		answer(resp.Body)
	}); err != nil {
		fail(kerr.NotEnoughReplicas.Code)
	}
}

// bound gives a's wait for its answer a bound, from now: a.done then runs
// once, with the answer, or with expired when none came within the node's
// ask timeout (verifyTimeout; txnNode.askTimeout) or the request to the
// coordinator's broker timed out (kerr.RequestTimedOut); the outcome is
// counted (txnMetrics.asked). An ask of a coordinator on this node has no
// request that times out: a coordinator that stopped answers those it
// holds, but one that keeps an ask unanswered (its append of
// __transaction_state, or the message, lost) would hold the produce, and
// every later one of its producer on the partition (cluster.Replica keeps
// them in order), for ever. Kafka's brokers answer a verification that
// timed out NETWORK_EXCEPTION, which the produce gets as
// NOT_ENOUGH_REPLICAS: the producer retries.
func (x *txnNode) bound(a *txnAsk, expired int16) {
	done, clock, askedMs := a.done, x.n.cfg.Clock, x.n.cfg.Clock.Now().MonoMs
	var answered atomic.Bool
	var timer *time.Timer // set before the ask goes out
	a.done = func(code int16) {
		if answered.Swap(true) {
			return
		}
		timer.Stop()
		timedOut := code == kerr.RequestTimedOut.Code
		x.metrics.asked(code, timedOut, clock.Now().MonoMs-askedMs)
		if timedOut {
			code = expired
		}
		done(code)
	}
	timer = time.AfterFunc(x.askTimeout(), func() {
		if !answered.Swap(true) {
			x.metrics.asked(expired, true, clock.Now().MonoMs-askedMs)
			done(expired)
		}
	})
}

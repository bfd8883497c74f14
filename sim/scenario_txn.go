package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/txn"
)

// The scenario commands of transactions (scenario.go lists the others):
//
//	txn-producer name=A tid=X [timeout=10s] [tv2] [pipeline=1]
//	                                          a transactional producer (creates __transaction_state first);
//	                                          tv2: it speaks KIP-890 part 2 (client_txn.go); pipeline=5:
//	                                          txn-begin sends each value as a batch, up to 5 in flight per
//	                                          partition (client_txn_pipeline.go)
//	txn-init name=A                           InitProducerId (retried until it answers without error)
//	txn-begin name=A tp=T/P[,T/P] [n=1] [async]
//	                                          a transaction: its partitions added, n values sent to each
//	                                          (async: do not wait for the sends)
//	await-sends name=A                        wait for the sends of an async txn-begin
//	txn-send name=A tp=T/P [n=1]              n more values in the open transaction
//	txn-end name=A commit|abort [async]       EndTxn (async: do not wait)
//	await-txn name=A                          wait for the open transaction's end
//	txn name=A tp=... [n=1] commit|abort      txn-begin, then txn-end
//	txn-state tid=X                           the transaction as its coordinator describes it
//	wait-coordinator tid=X                    wait for the transactional id's coordinator to load
//	hold from=A to=coordinator tid=X | to=N   keep what A sends to the node until release
//	release                                   deliver what was held, in order
//
// A node argument may also be "coordinator tid=X": the leader of the
// transactional id's __transaction_state partition.

// doTxn runs a transaction command; it reports false for others.
func (s *Scenario) doTxn(cmd string, args []Arg) bool {
	switch cmd {
	case "txn-producer":
		s.txnProducer(args)
	case "txn-init":
		s.txnInit(args)
	case "txn-begin":
		s.txnBegin(args)
	case "await-sends":
		s.awaitBegin(args)
	case "txn-send":
		s.txnSend(args)
	case "txn-end":
		s.txnEnd(args, has(args, "async"))
	case "await-txn":
		s.awaitTxn(args)
	case "txn":
		if s.txnBegin(args) {
			s.txnEnd(args, false)
		}
	case "txn-state":
		s.txnState(arg(args, "tid", ""))
	case "wait-coordinator":
		s.waitCoordinator(arg(args, "tid", ""))
	case "hold":
		s.hold(args)
	case "release":
		s.release()
	default:
		return false
	}
	return true
}

// txnClient is the transactional producer a command names.
func (s *Scenario) txnClient(args []Arg) *client {
	name := arg(args, "name", "p")
	if c := s.clients[name]; c != nil && c.prod != nil && c.prod.tid != "" {
		return c
	}
	s.printf("error: no transactional producer %s", name)
	return nil
}

func (s *Scenario) txnProducer(args []Arg) {
	w := s.w
	name, tid := arg(args, "name", "p"), arg(args, "tid", "tx")
	if _, ok := s.controller().image.Topic(txn.StateTopic); !ok {
		admin := s.clients["admin"]
		if !slices.ContainsFunc(admin.pendingTopics, func(t topicSpec) bool { return t.name == txn.StateTopic }) {
			rf := int16(min(3, len(w.nodes)))
			admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: txn.StateTopic, partitions: txnStatePartitions, rf: rf, minISR: min(2, int(rf)), compacted: true})
		}
		s.waitTopic(txn.StateTopic)
	}
	c := w.newClient(producerClient)
	c.acks = -1
	c.prod = &producerState{tid: tid, timeoutMs: int32(durationArg(arg(args, "timeout", "10s"))), pid: -1, tv2: has(args, "tv2")}
	c.prod.pipeline, _ = strconv.Atoi(arg(args, "pipeline", "1"))
	s.clients[name] = c
	c.refreshMetadata()
	pipelined := ""
	if c.prod.pipeline > 1 {
		pipelined = fmt.Sprintf(", up to %d batches in flight per partition", c.prod.pipeline)
	}
	s.printf("%s: %s is transactional producer %s (transaction timeout %s%s%s)", name, c.name(), tid, fmtMs(int64(c.prod.timeoutMs)),
		map[bool]string{true: ", KIP-890 part 2"}[c.prod.tv2], pipelined)
}

// txnInit gets the producer its producer id and epoch.
func (s *Scenario) txnInit(args []Arg) bool {
	c := s.txnClient(args)
	if c == nil {
		return false
	}
	p := c.prod
	p.pid, p.lastInit = -1, ""
	ok := s.until(60_000, c.name()+"'s producer id", func() bool {
		if p.pid < 0 && !p.initing {
			c.initProducer()
		}
		return p.pid >= 0
	})
	if !ok {
		s.printf("%s: no producer id (%s)", arg(args, "name", "p"), p.lastInit)
		return false
	}
	s.printf("%s: producer id %d, epoch %d", arg(args, "name", "p"), p.pid, p.epoch)
	return true
}

// txnBegin opens a transaction and sends its first values.
func (s *Scenario) txnBegin(args []Arg) bool {
	c := s.txnClient(args)
	if c == nil {
		return false
	}
	p := c.prod
	if p.cur != nil {
		s.printf("error: %s has a transaction open", arg(args, "name", "p"))
		return false
	}
	if p.pid < 0 && !s.txnInit(args) {
		return false
	}
	op := c.newTxn(true)
	s.addWrites(c, op, args)
	s.w.stats.Sends += int64(len(op.writes))
	s.w.timelinef("txn: %s (%s) begins transaction %d on %s (producer %d, epoch %d)", c.name(), op.tid, op.seq, tpList(op.partitions), op.pid, op.epoch)
	sent := new(bool)
	send := func() { c.txnSendFrom(op, 0, func() { *sent = true }) }
	if p.pipeline > 1 {
		// Every value a batch of its own, up to pipeline in flight per
		// partition (client_txn_pipeline.go).
		op.batches = [][]int{}
		for i := range op.writes {
			op.batches = append(op.batches, []int{i})
		}
		send = func() { c.txnSendPipelined(op, func() { *sent = true }) }
	}
	c.txnAddPartitions(op, op.partitions, send)
	if has(args, "async") {
		s.pendingSends[arg(args, "name", "p")] = sent
		s.printf("%s: sending %d values in transaction %d", arg(args, "name", "p"), len(op.writes), op.seq)
		return false
	}
	return s.awaitSends(c, op, 0, sent)
}

// awaitBegin waits for the sends of a transaction txn-begin began async.
func (s *Scenario) awaitBegin(args []Arg) {
	c := s.txnClient(args)
	if c == nil {
		return
	}
	sent := s.pendingSends[arg(args, "name", "p")]
	if c.prod.cur == nil || sent == nil {
		s.printf("error: %s began no transaction async", arg(args, "name", "p"))
		return
	}
	delete(s.pendingSends, arg(args, "name", "p"))
	s.awaitSends(c, c.prod.cur, 0, sent)
	if st := s.w.stats; c.prod.pipeline > 1 {
		s.printf("pipelined batches so far: %d sent behind one in flight, %d refused as out of order behind an unresolved batch and retried, %d of them appended",
			st.TxnBatchesPipelined, st.TxnBatchesRefusedRetried, st.TxnBatchesRetriedOK)
	}
}

// addWrites adds n values to each partition tp names.
func (s *Scenario) addWrites(c *client, op *txnOp, args []Arg) {
	n := 1
	fmt.Sscan(arg(args, "n", "1"), &n)
	for _, v := range strings.Split(arg(args, "tp", "t/0"), ",") {
		tp := tpArg([]Arg{{Key: "tp", Value: v}})
		for i := 0; i < n; i++ {
			c.addWrite(op, tp, fmt.Sprintf("%s-%d.%d", c.name(), op.seq, len(op.writes)))
		}
	}
}

// awaitSends waits for the transaction's sends from the from-th on, and
// prints what became of them.
func (s *Scenario) awaitSends(c *client, op *txnOp, from int, sent *bool) bool {
	name := s.nameOf(c)
	s.until(60_000, name+"'s sends", func() bool { return *sent || op.outcome != pending })
	ok := 0
	for _, wr := range op.writes[from:] {
		if wr.outcome == outcomeOK {
			ok++
		}
	}
	if op.outcome != pending {
		s.printf("%s: %d of %d sends ok; %s", name, ok, len(op.writes)-from, describeTxn(op))
		return false
	}
	s.printf("%s: transaction %d (producer %d, epoch %d) on %s: %d sends ok", name, op.seq, op.pid, op.epoch, tpList(op.partitions), ok)
	return true
}

// txnSend sends more values in the open transaction, adding partitions it
// does not have yet.
func (s *Scenario) txnSend(args []Arg) {
	c := s.txnClient(args)
	if c == nil {
		return
	}
	op := c.prod.cur
	if op == nil {
		s.printf("error: %s has no transaction open", arg(args, "name", "p"))
		return
	}
	before, from := slices.Clone(op.partitions), len(op.writes)
	s.addWrites(c, op, args)
	s.w.stats.Sends += int64(len(op.writes) - from)
	var added []tpKey
	for _, tp := range op.partitions {
		if !slices.Contains(before, tp) {
			added = append(added, tp)
		}
	}
	sent := false
	c.txnAddPartitions(op, added, func() { c.txnSendFrom(op, from, func() { sent = true }) })
	s.awaitSends(c, op, from, &sent)
}

// txnEnd ends the open transaction.
func (s *Scenario) txnEnd(args []Arg, async bool) {
	c := s.txnClient(args)
	if c == nil {
		return
	}
	op := c.prod.cur
	if op == nil {
		s.printf("error: %s has no transaction open", arg(args, "name", "p"))
		return
	}
	op.commit = !has(args, "abort")
	c.endTxn(op)
	if async {
		s.printf("%s: EndTxn(%s) of transaction %d sent", arg(args, "name", "p"), map[bool]string{true: "commit", false: "abort"}[op.commit], op.seq)
		return
	}
	s.awaitTxnOp(c, op)
}

func (s *Scenario) awaitTxn(args []Arg) {
	c := s.txnClient(args)
	if c == nil {
		return
	}
	var op *txnOp
	for _, t := range s.w.txn.txns {
		if t.process == c.id {
			op = t
		}
	}
	if op == nil {
		s.printf("error: %s ran no transaction", arg(args, "name", "p"))
		return
	}
	s.awaitTxnOp(c, op)
}

func (s *Scenario) awaitTxnOp(c *client, op *txnOp) {
	if s.until(60_000, s.nameOf(c)+"'s transaction", func() bool { return op.outcome != pending }) {
		s.printf("%s: %s", s.nameOf(c), describeTxn(op))
	}
}

// describeTxn says how a transaction ended.
func describeTxn(op *txnOp) string {
	what := fmt.Sprintf("transaction %d (producer %d, epoch %d)", op.seq, op.pid, op.epoch)
	switch {
	case op.outcome == outcomeOK:
		return what + " committed"
	case op.outcome == outcomeFail && op.lastError == "":
		return what + " aborted"
	case op.outcome == outcomeFail:
		return fmt.Sprintf("%s aborted (%s)", what, op.lastError)
	case op.outcome == outcomeInfo:
		return fmt.Sprintf("%s: outcome unknown to the client (%s)", what, op.lastError)
	}
	return what + " open"
}

func (s *Scenario) nameOf(c *client) string {
	for name, x := range s.clients {
		if x == c {
			return name
		}
	}
	return c.name()
}

// coordinatorOf is the node leading the transactional id's
// __transaction_state partition, as the active controller has it.
func (s *Scenario) coordinatorOf(tid string) *node {
	if p, ok := s.partitionRecord(txnStateKey(tid)); ok && p.Leader >= 0 {
		return s.w.node(p.Leader)
	}
	return nil
}

// waitCoordinator waits until the transactional id's coordinator runs,
// loaded, on the partition's leader.
func (s *Scenario) waitCoordinator(tid string) {
	var th *txnHost
	start := s.w.now
	if s.until(60_000, "the coordinator of "+tid, func() bool {
		n := s.coordinatorOf(tid)
		if n == nil || !n.up {
			return false
		}
		th = n.txns().coords[txnStateKey(tid).partition]
		return th != nil && th.core != nil && th.loaded
	}) {
		s.printf("%s: coordinator %s (coordinator epoch %d) after %s", tid, th.n.name(), th.epoch, fmtMs(s.w.now-start))
	}
}

// txnState asks the coordinator of tid to describe its transaction.
func (s *Scenario) txnState(tid string) {
	admin := s.clients["admin"]
	var resp *kmsg.DescribeTransactionsResponse
	asking := false
	s.until(30_000, "the transaction of "+tid, func() bool {
		if resp != nil && len(resp.TransactionStates) == 1 && resp.TransactionStates[0].ErrorCode == 0 {
			return true
		}
		if n := s.coordinatorOf(tid); n != nil && !asking {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{tid}
			asking = true
			admin.call(n.id, &txnEnvelope{body: req}, s.w.timing.requestTimeoutMs, func(body any, _ error) {
				asking = false
				resp, _ = body.(*kmsg.DescribeTransactionsResponse)
			})
		}
		return false
	})
	if resp != nil && len(resp.TransactionStates) == 1 && resp.TransactionStates[0].ErrorCode == 0 {
		st := resp.TransactionStates[0]
		s.printf("%s: %s, producer %d, epoch %d", tid, st.State, st.ProducerID, st.ProducerEpoch)
	}
}

// hold keeps what a client sends to a node until release.
func (s *Scenario) hold(args []Arg) {
	c := s.clients[arg(args, "from", "p")]
	if c == nil {
		s.printf("error: no client %s", arg(args, "from", "p"))
		return
	}
	var to *node
	if v := arg(args, "to", ""); v == "coordinator" {
		to = s.coordinatorOf(arg(args, "tid", ""))
	} else if ids := parseIDs(v, ","); len(ids) == 1 && ids[0] >= 1 && int(ids[0]) <= len(s.w.nodes) {
		to = s.w.node(ids[0])
	}
	if to == nil {
		s.printf("error: no node %s", arg(args, "to", ""))
		return
	}
	k := linkKey{c.id, to.id}
	if s.w.net.held == nil {
		s.w.net.held = map[linkKey][]*message{}
	}
	if _, ok := s.w.net.held[k]; !ok {
		s.w.net.held[k] = []*message{}
	}
	s.w.timelinef("fault: %s holds what it sends to %s", c.name(), to.name())
}

// release delivers what the held links kept, in the order it was sent.
func (s *Scenario) release() {
	w := s.w
	var links []linkKey
	for k := range w.net.held {
		links = append(links, k)
	}
	slices.SortFunc(links, func(a, b linkKey) int {
		if a.from != b.from {
			return int(a.from - b.from)
		}
		return int(a.to - b.to)
	})
	for _, k := range links {
		held := w.net.held[k]
		delete(w.net.held, k)
		w.timelinef("fault: %s delivers the %d messages it held for %s", endpointName(k.from), len(held), endpointName(k.to))
		for _, m := range held {
			w.schedule(w.now, func() { w.net.arrive(m) })
		}
	}
}

// txnSummary is the check command's line about transactions ("" when the
// run had none): their outcomes, and how many of their values
// read_committed polls delivered.
func (w *World) txnSummary() string {
	if len(w.txn.txns) == 0 {
		return ""
	}
	count := map[outcome]int{}
	values := map[string]bool{}
	for _, op := range w.txn.txns {
		count[op.outcome]++
		for _, wr := range op.writes {
			values[wr.value] = true
		}
	}
	delivered := map[string]bool{}
	for _, p := range w.hist.polls {
		for _, r := range p.records {
			if p.committed && r.kind == recData && values[r.value] {
				delivered[r.value] = true
			}
		}
	}
	return fmt.Sprintf("transactions: %d, %d committed, %d aborted, %d unknown; %d of their %d values delivered read_committed",
		len(w.txn.txns), count[outcomeOK], count[outcomeFail], count[outcomeInfo], len(delivered), len(values))
}

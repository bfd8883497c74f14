package actors

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/netio"
	"gregor/txn"
)

// txnNode is the node's part in transaction coordination: the coordinator
// actor of every __transaction_state partition this node leads (started
// and stopped by the replica manager as leadership says), the creation of
// that topic when the first transactional request needs it, and the
// clients that carry markers and verifications to other brokers.
type txnNode struct {
	internalTopicCoordinators
	cfg TxnConfig

	mu      sync.Mutex
	clients map[brokerClientKey]*netio.Client
	closed  bool
	// unverified, set by tests that drive partitions with markers of their
	// own and no coordinator, lets every transactional produce through.
	unverified atomic.Bool
	// asker carries the partitions' verifications and adds to the
	// coordinators (txn_verify.go).
	asker txnAsker
	// asksSent counts the asks (verifications and adds) handed to a
	// coordinator, for tests: a produce's partitions go in one.
	asksSent atomic.Int64
	// intercept, set by tests, sees each ask before it goes to a
	// coordinator and may take it (true: the test answers it), to fail or
	// delay chosen ones.
	intercept atomic.Pointer[func(txnAsk) bool]
	// holdAppend, set by tests, is handed the send of each append a
	// coordinator makes to its partition: true keeps it (the test sends
	// it later).
	holdAppend atomic.Pointer[func(send func()) bool]
	// askTimeoutNs, set by tests, replaces verifyTimeout as the bound of
	// an ask's wait for its answer (bound); 0 leaves verifyTimeout.
	askTimeoutNs atomic.Int64
	// producedAdds are the partitions produces added (api_txn_produce.go).
	producedAdds producedAdds
	// markerSenders batch the markers for other brokers per leader
	// (txn_marker_sender.go).
	markerSenders markerSenders
	// metrics count the asks' and marker requests' outcomes.
	metrics *txnMetrics
}

func newTxnNode(n *Node) *txnNode {
	x := &txnNode{cfg: n.cfg.Txns.withDefaults(), clients: map[brokerClientKey]*netio.Client{}, metrics: newTxnMetrics(n.metrics.registry)}
	x.setUp(n, txn.StateTopic, "transaction", n.logger.Named("txns"), x.partitionStarted)
	x.markerSenders.send = x.sendMarkers
	return x
}

// askTimeout bounds an ask's wait for its answer (bound).
func (x *txnNode) askTimeout() time.Duration {
	if d := x.askTimeoutNs.Load(); d > 0 {
		return time.Duration(d)
	}
	return verifyTimeout
}

// intercepted says a test took the ask (txnNode.intercept).
func (x *txnNode) intercepted(a txnAsk) bool {
	f := x.intercept.Load()
	return f != nil && (*f)(a)
}

// partitionOf is the __transaction_state partition of txnID, or -1 when
// the topic does not exist yet.
func (x *txnNode) partitionOf(rt *routes, txnID string) int32 {
	t, ok := rt.image.Topic(txn.StateTopic)
	if !ok || t.PartitionCount() == 0 {
		return -1
	}
	return txn.PartitionFor(txnID, t.PartitionCount())
}

// coordinatorFor returns the actor coordinating txnID, or nil when this
// node does not.
func (x *txnNode) coordinatorFor(rt *routes, txnID string) *actor.PID {
	p := x.partitionOf(rt, txnID)
	if p < 0 {
		return nil
	}
	return x.coordinator(p)
}

// runsOnReader says a connection's reader may run txnID's coordinator
// (txnRequest.inline, txnAsk.onReader): its __transaction_state partition
// has no in-sync replica but this node's, so its appends are acknowledged
// on the spot and a request is answered where it was read. With followers
// the append's answer comes on the goroutine of their fetch anyway, and the
// reader would only take over the coordinator's work (RF3 A/B runs, load
// 4-23 on two cores: no gain measured, 0.93-0.95 of the transactions in
// the medians of 16 rounds, within the rounds' spread).
func (x *txnNode) runsOnReader(rt *routes, txnID string) bool {
	p := x.partitionOf(rt, txnID)
	t, _ := rt.image.Topic(txn.StateTopic)
	return p >= 0 && len(t.Partitions[p].ISR) == 1 && t.Partitions[p].ISR[0] == x.n.cfg.NodeID
}

// partitionStarted is the replica manager's hook after it started a
// partition actor: a __transaction_state partition this node leads gets
// its coordinator, a child of the manager beside the partition.
func (x *txnNode) partitionStarted(ctx actor.Context, r cluster.LocalReplica, partitionPID *actor.PID) {
	if !x.leads(r) {
		return
	}
	p, epoch := r.Partition.Partition, r.Partition.LeaderEpoch
	x.spawn(ctx, p, func() actor.Actor { return newTxnCoordinator(x, p, epoch, partitionPID) })
	x.logger.Info("transaction coordinator started", zap.Int32("partition", p), zap.Int32("coordinator_epoch", epoch))
}

// shutdown tells every coordinator that the node is stopping, and closes
// the broker clients.
func (x *txnNode) shutdown() {
	for _, pid := range *x.coordinators.Load() {
		x.n.system.Root.Send(pid, &txnShutdown{})
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	for _, c := range x.clients {
		_ = c.Close()
	}
}

// brokerClientKey names one of the clients to another broker: by its
// address and what the client carries.
type brokerClientKey struct {
	addr    string
	markers bool
}

// brokerClient returns the client that carries the partitions' asks
// (AddPartitionsToTxn, txn_verify.go) to broker id's listener, or nil when
// the broker is not live (or the node is stopping).
func (x *txnNode) brokerClient(id int32) *netio.Client { return x.clientTo(id, false) }

// markerClient returns the client that carries this node's coordinators'
// markers (WriteTxnMarkers) to broker id's listener, or nil as
// brokerClient. Markers never share a connection with asks: a broker
// answers a connection's requests in order, and a coordinator holds an
// add that comes while its transaction's markers are written until they
// are (txn.Coordinator.park). On one connection each way, node A's held
// add of node B's asks delays the answer to B's markers for A's
// partitions sent after it, whose transaction's add, held at B, delays
// the answer to A's markers for B's partitions, which the first add
// waits for: every request on both connections waited for its 10 s
// timeout (three nodes, four transactional producers: 800 transactions
// in 66 s, some failing OUT_OF_ORDER_SEQUENCE_NUMBER).
func (x *txnNode) markerClient(id int32) *netio.Client { return x.clientTo(id, true) }

func (x *txnNode) clientTo(id int32, markers bool) *netio.Client {
	var addr string
	for _, b := range x.n.liveBrokers(x.n.routes.load().image) {
		if b.id == id {
			addr = b.host + ":" + strconv.Itoa(int(b.port))
		}
	}
	if addr == "" {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	key := brokerClientKey{addr: addr, markers: markers}
	if c, ok := x.clients[key]; ok {
		return c
	}
	clientID, name := "gregor-txn-", "broker_client"
	if markers {
		clientID, name = "gregor-txn-markers-", "marker_client"
	}
	c, err := netio.NewClient(netio.ClientConfig{Address: addr, ClientID: clientID + strconv.Itoa(int(x.n.cfg.NodeID)),
		ReconnectBackoffMaxMs: 500, RequestSent: x.n.metrics.requestSent}, x.logger.Named(name))
	if err != nil {
		x.logger.Error("broker client not made", zap.String("address", addr), zap.Error(err))
		return nil
	}
	x.clients[key] = c
	return c
}

// createStateTopic asks the controller to create __transaction_state
// (once at a time); done runs when the controller answered.
func (x *txnNode) createStateTopic(done func()) {
	x.createTopic(x.cfg.StateLogPartitions, x.cfg.StateLogReplicationFactor, "transaction.state.log.replication.factor", func(rf int16) [][2]string {
		return [][2]string{{"cleanup.policy", "compact"}, {"compression.type", "uncompressed"},
			{"segment.bytes", strconv.Itoa(int(x.cfg.StateLogSegmentBytes))},
			{"min.insync.replicas", strconv.Itoa(int(min(x.cfg.StateLogMinISR, int32(rf))))}}
	}, done)
}

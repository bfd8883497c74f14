package actors

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/netio"
)

// fetcherActor is the replica fetcher of one source broker (Kafka's
// ReplicaFetcherThread): the thin shell of a cluster.Fetcher, which builds
// the Fetch and OffsetForLeaderEpoch requests of the partitions this node
// follows on that broker, with a netio.Client to the broker's client
// listener (its endpoint from the broker's registration in the metadata
// image). Requests name topics by id (Fetch v13+). Each answer goes back
// to the core, and the outcomes it makes go to the partition actors.
type fetcherActor struct {
	node   *Node
	leader int32
	logger *zap.Logger
	core   *cluster.Fetcher
	// clients are the connections to the leader's client listener at
	// addr: Fetch requests go on the first, OffsetForLeaderEpoch on the
	// second. The first is dropped when the core gives up a Fetch
	// (a leader answers one connection's requests in order), and
	// fetchGen counts those, so that a given-up Fetch's answer is dropped.
	clients  [2]*netio.Client
	addr     string
	fetchGen uint64
	self     *actor.PID
	// owners are the partition actors of the partitions fetched.
	owners map[cluster.FetcherPartition]fetcherOwner
	// timer fires fetcherTick at tickAtMs (monotonic) while tickArmed.
	timer     *time.Timer
	tickAtMs  int64
	tickArmed bool
	// resumeAtMs (monotonic): a replacement of a fetcher that kept failing
	// sends nothing before then.
	resumeAtMs int64
	// answer is the Fetch response the core's outcomes alias while a
	// fetchAnswered is handled: each outcome with records takes a
	// reference to its frame, which the partition lets go after its
	// append (the frames come from the client's pool: a fresh multi-MiB
	// buffer per response costs page faults on every read).
	answer *netio.Response
}

// fetchAnswered and epochEndsAnswered carry the leader's answer (or the
// transport's failure) to the fetcher's request of core.
type fetchAnswered struct {
	core *cluster.Fetcher
	gen  uint64
	resp *netio.Response
	err  error
}

type epochEndsAnswered struct {
	core *cluster.Fetcher
	resp *netio.Response
	err  error
}

// fetcherTick wakes a fetcher at its core's next deadline.
type fetcherTick struct{}

func (*fetchAnswered) answerUndelivered()     {}
func (*epochEndsAnswered) answerUndelivered() {}
func (*fetcherTick) answerUndelivered()       {}

// replicaFetcherConfig is the core's configuration for the fetcher from
// leader: the replica.fetch.* settings of server.properties (absent ones
// take the core's defaults, which are Kafka's). The core reads a zero as
// its default, so a configured zero is passed as the nearest value that
// means the same: a byte limit of 1 (a Fetch still returns its first
// batch whole), a backoff of 1 ms.
func replicaFetcherConfig(cfg Config, leader int32, brokerEpoch int64) cluster.FetcherConfig {
	setting := func(key string) (int64, bool) {
		v, err := strconv.ParseInt(cfg.StaticBrokerConfigs[key], 10, 32)
		return max(v, 1), err == nil && v >= 0
	}
	fc := cluster.FetcherConfig{NodeID: cfg.NodeID, BrokerEpoch: brokerEpoch, Leader: leader,
		UnknownTopicBackoffMs: cluster.DefaultLeaderBehindBackoffMs, PromptFetchGapMs: cluster.DefaultPromptFetchGapMs, Sessions: true}
	if v, ok := setting("replica.fetch.max.bytes"); ok {
		fc.PartitionMaxBytes = int32(v)
	}
	if v, ok := setting("replica.fetch.min.bytes"); ok {
		fc.MinBytes = int32(v)
	}
	if v, ok := setting("replica.fetch.wait.max.ms"); ok {
		fc.MaxWaitMs = int32(v)
	}
	if v, ok := setting("replica.fetch.response.max.bytes"); ok {
		fc.MaxBytes = int32(v)
	}
	if v, ok := setting("replica.fetch.backoff.ms"); ok {
		fc.BackoffMs = v
	}
	return fc
}

// fetchSocketTimeout is replica.socket.timeout.ms: how long a request to
// the leader may take beyond the time the leader is asked to wait.
const fetchSocketTimeout = 30 * time.Second

func newFetcherActor(n *Node, leader int32, resumeAtMs int64) *fetcherActor {
	return &fetcherActor{node: n, leader: leader, resumeAtMs: resumeAtMs, logger: n.logger.Named("replica_fetcher").With(zap.Int32("leader", leader))}
}

// Receive implements actor.Actor.
func (f *fetcherActor) Receive(ctx actor.Context) {
	now := f.node.cfg.Clock.Now()
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		f.self = ctx.Self()
		f.owners = map[cluster.FetcherPartition]fetcherOwner{}
		f.core = cluster.NewFetcher(replicaFetcherConfig(f.node.cfg, f.leader, f.node.brokerEpoch()))
	case *fetcherSetPartition:
		if o, ok := f.owners[msg.partition]; ok && o.incarnation != msg.owner.incarnation {
			f.core.RemovePartition(msg.partition)
		}
		f.owners[msg.partition] = msg.owner
		f.core.SetPartition(msg.partition, msg.state, now)
	case *fetcherRemovePartition:
		delete(f.owners, msg.partition)
		f.core.RemovePartition(msg.partition)
	case *fetchAnswered:
		if msg.resp != nil {
			defer msg.resp.Release() // after carryOut: the outcomes took their references
		}
		if msg.core != f.core || msg.gen != f.fetchGen {
			return
		}
		var body *kmsg.FetchResponse
		if msg.err == nil {
			body, _ = msg.resp.Body.(*kmsg.FetchResponse)
		}
		f.core.FetchCompleted(body, msg.err, now)
		f.answer = msg.resp
	case *epochEndsAnswered:
		if msg.resp != nil {
			defer msg.resp.Release()
		}
		if msg.core != f.core {
			return
		}
		var body *kmsg.OffsetForLeaderEpochResponse
		if msg.err == nil {
			body, _ = msg.resp.Body.(*kmsg.OffsetForLeaderEpochResponse)
		}
		f.core.EpochEndOffsetsCompleted(body, msg.err, now)
	case *fetcherTick:
		f.tickArmed = false
		f.core.Tick(now)
	case *actor.Stopping, *actor.Restarting:
		if f.timer != nil {
			f.timer.Stop()
		}
		f.closeClient(0)
		f.closeClient(1)
		return
	default:
		return
	}
	f.carryOut(now)
}

// carryOut sends the requests the core built, hands its outcomes to the
// partitions and arms its next tick.
func (f *fetcherActor) carryOut(now cluster.Instant) {
	if now.MonoMs < f.resumeAtMs {
		f.armTimer(now)
		return
	}
	f.core.SetBrokerEpoch(f.node.brokerEpoch())
	rd := f.core.Ready()
	for _, o := range rd.Outcomes {
		if owner, ok := f.owners[o.Partition]; ok {
			msg := &leaderAnswered{incarnation: owner.incarnation, outcome: o}
			if o.Fetch != nil && len(o.Fetch.Records) > 0 {
				if f.answer == nil {
					panic("replica fetcher: an outcome with records and no response")
				}
				msg.release = f.answer.Retain()
			}
			f.node.system.Root.Send(owner.pid, msg)
		}
	}
	f.answer = nil
	if rd.AbandonFetch {
		f.fetchGen++
		f.closeClient(0)
	}
	if rd.Fetch != nil {
		core, gen := f.core, f.fetchGen
		timeout := time.Duration(rd.Fetch.MaxWaitMillis)*time.Millisecond + fetchSocketTimeout
		f.send(0, rd.Fetch, timeout, func(resp *netio.Response, err error) any {
			return &fetchAnswered{core: core, gen: gen, resp: resp, err: err}
		})
	}
	if rd.OffsetForLeaderEpoch != nil {
		core := f.core
		f.send(1, rd.OffsetForLeaderEpoch, fetchSocketTimeout, func(resp *netio.Response, err error) any {
			return &epochEndsAnswered{core: core, resp: resp, err: err}
		})
	}
	f.armTimer(now)
}

// send sends a request to the leader on connection conn; its answer comes
// back to the actor as the message answer builds. A request that cannot be
// sent (no address for the leader yet, a full queue) fails at once,
// through the mailbox.
func (f *fetcherActor) send(conn int, req kmsg.Request, timeout time.Duration, answer func(*netio.Response, error) any) {
	self, root := f.self, f.node.system.Root
	done := func(resp *netio.Response, err error) { root.Send(self, answer(resp, err)) }
	client, err := f.connection(conn)
	if err == nil {
		err = client.Send(req, timeout, done)
	}
	if err != nil {
		// Answered after a short pause: the core backs the partitions off.
		time.AfterFunc(10*time.Millisecond, func() { done(nil, err) })
	}
}

// connection is client i to the leader's client listener, made (again)
// when the leader's registered endpoint changed.
func (f *fetcherActor) connection(i int) (*netio.Client, error) {
	addr, err := f.node.brokerAddress(f.leader)
	if err != nil {
		return nil, err
	}
	if f.clients[i] != nil && addr == f.addr {
		return f.clients[i], nil
	}
	if addr != f.addr {
		f.closeClient(1 - i)
	}
	f.closeClient(i)
	client, err := netio.NewClient(netio.ClientConfig{Address: addr, MaxInFlightRequests: 2,
		ClientID: "gregor-replica-fetcher-" + strconv.Itoa(int(f.node.cfg.NodeID)), ReconnectBackoffMaxMs: 500,
		PoolResponseBuffers: true, ResponsePool: f.node.fetchAnswers, PoisonReleasedBuffers: f.node.cfg.poisonReleasedBuffers,
		RequestSent: f.node.metrics.requestSent}, f.logger)
	if err != nil {
		return nil, err
	}
	f.clients[i], f.addr = client, addr
	return client, nil
}

// closeClient closes client i off the mailbox (Close waits for its
// goroutines); its requests in flight fail.
func (f *fetcherActor) closeClient(i int) {
	if c := f.clients[i]; c != nil {
		f.clients[i] = nil
		go func() { _ = c.Close() }()
	}
}

// armTimer schedules the next tick at the core's next deadline; it only
// ever moves an armed tick earlier.
func (f *fetcherActor) armTimer(now cluster.Instant) {
	next := f.core.NextDeadlineMs()
	if now.MonoMs < f.resumeAtMs {
		next = f.resumeAtMs
	}
	if next == math.MaxInt64 || (f.tickArmed && next >= f.tickAtMs) {
		return
	}
	f.tickAtMs, f.tickArmed = next, true
	delay := time.Duration(max(next-now.MonoMs, 0)) * time.Millisecond
	if f.timer == nil {
		self, root := f.self, f.node.system.Root
		f.timer = time.AfterFunc(delay, func() { root.Send(self, &fetcherTick{}) })
		return
	}
	f.timer.Reset(delay)
}

// brokerAddress is the host:port of a broker's client listener, from its
// registration in the metadata image.
func (n *Node) brokerAddress(id int32) (string, error) {
	b, ok := n.routes.load().image.Broker(id)
	if !ok {
		return "", fmt.Errorf("broker %d is not registered", id)
	}
	e, ok := b.Endpoint(n.cfg.ListenerName)
	if !ok {
		return "", fmt.Errorf("broker %d has no %s listener registered", id, n.cfg.ListenerName)
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
}

package actors

import (
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
)

// fetcherManager is the node's replica fetcher manager (Kafka's
// ReplicaFetcherManager), a child of the replica manager: it routes each
// follower partition's fetch state to the fetcher of the partition's leader
// (one fetcherActor per source broker, started when a first partition
// follows that broker and stopped when the last one leaves it), moving the
// partition when its leader changes, and replays the states of a fetcher
// that failed to the one started in its place.
type fetcherManager struct {
	node *Node
	// partitions are the follower partitions being fetched, with the
	// fetcher of their leader.
	partitions map[cluster.FetcherPartition]*followerRoute
	// fetchers are the running fetchers by source broker, with the number
	// of partitions each holds.
	fetchers map[int32]*fetcherHandle
	logger   *zap.Logger
	// stopping is set once the manager stops or restarts: its fetchers
	// stop with it, which is no failure to make up for.
	stopping bool
	// failures decides how long a failed fetcher's replacement waits.
	failures cluster.FetcherFailures
}

type followerRoute struct {
	leader int32
	owner  fetcherOwner
}

type fetcherHandle struct {
	pid        *actor.PID
	partitions int
}

// fetcherOwner is the partition actor a fetch state came from, in the
// incarnation that published it.
type fetcherOwner struct {
	pid         *actor.PID
	incarnation uint64
}

// followerStateChanged hands the fetcher manager a follower's newly
// published fetch state.
type followerStateChanged struct {
	partition cluster.FetcherPartition
	state     cluster.FollowerFetchState
	owner     fetcherOwner
}

// followerStopped tells the fetcher manager a partition actor's incarnation
// stopped: its partition is fetched no more (until a new incarnation
// publishes a state).
type followerStopped struct {
	partition   cluster.FetcherPartition
	incarnation uint64
}

// fetcherSetPartition and fetcherRemovePartition are the manager's orders to
// a fetcher.
type fetcherSetPartition struct {
	partition cluster.FetcherPartition
	state     cluster.FollowerFetchState
	owner     fetcherOwner
}

type fetcherRemovePartition struct{ partition cluster.FetcherPartition }

func (*followerStateChanged) answerUndelivered()   {}
func (*followerStopped) answerUndelivered()        {}
func (*fetcherSetPartition) answerUndelivered()    {}
func (*fetcherRemovePartition) answerUndelivered() {}

// spawnFetcherManager starts the node's fetcher manager under ctx (the
// replica manager's).
func spawnFetcherManager(ctx actor.Context, n *Node) *actor.PID {
	return ctx.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &fetcherManager{node: n, logger: n.logger.Named("replica_fetchers")}
	}, actor.WithSupervisor(fetcherSupervisor()), actor.WithDispatcher(n.dispatcher)))
}

// fetcherSupervisor stops a fetcher that panicked; the manager starts a new
// one for its partitions.
func fetcherSupervisor() actor.SupervisorStrategy {
	return actor.NewOneForOneStrategy(0, 10*time.Second, func(interface{}) actor.Directive { return actor.StopDirective })
}

// Receive implements actor.Actor.
func (m *fetcherManager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.partitions = map[cluster.FetcherPartition]*followerRoute{}
		m.fetchers = map[int32]*fetcherHandle{}
		m.failures = cluster.FetcherFailures{}
		m.node.fetcherDir.clear()
	case *followerStateChanged:
		m.stateChanged(ctx, msg)
	case *followerStopped:
		if r := m.partitions[msg.partition]; r != nil && r.owner.incarnation == msg.incarnation {
			m.remove(ctx, msg.partition)
		}
	case *actor.Stopping, *actor.Restarting:
		m.stopping = true
		m.node.fetcherDir.clear()
	case *actor.Terminated:
		if !m.stopping {
			m.terminated(ctx, msg.Who)
		}
	}
}

// stateChanged routes a state to its leader's fetcher, taking the partition
// from the fetcher of its previous leader (or of the previous incarnation
// of its actor) first.
func (m *fetcherManager) stateChanged(ctx actor.Context, msg *followerStateChanged) {
	p, st := msg.partition, msg.state
	m.node.fetcherDir.routed.Add(1)
	if r := m.partitions[p]; r != nil && (r.leader != st.Leader || r.owner.incarnation != msg.owner.incarnation) {
		m.remove(ctx, p)
	}
	if st.Leader < 0 || st.Phase == cluster.FollowerIdle {
		m.remove(ctx, p)
		return
	}
	r := m.partitions[p]
	if r == nil {
		r = &followerRoute{leader: st.Leader, owner: msg.owner}
		m.partitions[p] = r
		m.fetcher(ctx, st.Leader).partitions++
	}
	ctx.Send(m.fetchers[st.Leader].pid, &fetcherSetPartition{partition: p, state: st, owner: msg.owner})
}

// fetcher returns the fetcher of a source broker, started if need be.
func (m *fetcherManager) fetcher(ctx actor.Context, leader int32) *fetcherHandle {
	return m.startFetcher(ctx, leader, 0)
}

// startFetcher is fetcher, a new fetcher sending nothing before resumeAtMs.
func (m *fetcherManager) startFetcher(ctx actor.Context, leader int32, resumeAtMs int64) *fetcherHandle {
	if h := m.fetchers[leader]; h != nil {
		return h
	}
	n := m.node
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newFetcherActor(n, leader, resumeAtMs) }, actor.WithDispatcher(fetcherDispatcher)))
	h := &fetcherHandle{pid: pid}
	m.fetchers[leader] = h
	n.fetcherDir.set(leader, pid)
	m.logger.Info("replica fetcher started", zap.Int32("leader", leader))
	return h
}

// remove takes a partition out of its fetcher, stopping the fetcher when it
// holds no partition any more.
func (m *fetcherManager) remove(ctx actor.Context, p cluster.FetcherPartition) {
	r := m.partitions[p]
	if r == nil {
		return
	}
	delete(m.partitions, p)
	h := m.fetchers[r.leader]
	if h == nil {
		return
	}
	h.partitions--
	if h.partitions > 0 {
		ctx.Send(h.pid, &fetcherRemovePartition{partition: p})
		return
	}
	delete(m.fetchers, r.leader)
	m.node.fetcherDir.set(r.leader, nil)
	ctx.Stop(h.pid)
	m.logger.Info("replica fetcher stopped", zap.Int32("leader", r.leader))
}

// terminated replaces a fetcher that stopped on its own (it failed) with a
// new one, and asks each of its partitions for its latest state: the
// manager holds only the states that changed a route, and a fetcher handed
// an older state than its partition's latest would fetch for a state the
// partition no longer takes an answer for.
func (m *fetcherManager) terminated(ctx actor.Context, who *actor.PID) {
	for leader, h := range m.fetchers {
		if h.pid.Id != who.Id {
			continue
		}
		now := m.node.cfg.Clock.Now()
		delayMs := m.failures.Failed(leader, now)
		m.node.fetcherDir.restartDelayMs.Store(delayMs)
		m.logger.Error("replica fetcher failed; starting another", zap.Int32("leader", leader), zap.Int64("fetching_after_ms", delayMs))
		delete(m.fetchers, leader)
		m.node.fetcherDir.set(leader, nil)
		nh := m.startFetcher(ctx, leader, now.MonoMs+delayMs)
		for _, r := range m.partitions {
			if r.leader == leader {
				nh.partitions++
				ctx.Send(r.owner.pid, &fetchStateWanted{})
			}
		}
		return
	}
}

// brokerSettingMs is a broker setting in milliseconds from the static
// broker configs (server.properties), 0 when absent or not a number (the
// core's default then applies).
func (c Config) brokerSettingMs(key string) int64 {
	v, err := strconv.ParseInt(c.StaticBrokerConfigs[key], 10, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// fetcherDispatcher runs a fetcher's mailbox on the goroutine of whoever
// sends to it: the connection's reader that got the leader's answer, the
// partition actor that published its next state, the manager, a timer.
// The mailbox still takes one message at a time (a sender that finds it
// running only queues its message, which the running one takes), and
// the fetcher never blocks: it hands outcomes to the partition actors'
// mailboxes and its requests to the client, which writes them at once
// when the connection is free (netio's inline sends). A follower's
// replication round then costs one goroutine hand-off (answer, to the
// partition actor that appends it) where the fetcher's own mailbox cost
// two more (answer to fetcher, state to fetcher), each waking a goroutine
// and often an idle thread of the Go scheduler.
var fetcherDispatcher = actor.NewSynchronizedDispatcher(actorThroughput)

// fetchAnswerPoolBytes bounds the free buffers the node keeps for its
// replica fetchers' answers (Node.fetchAnswers): a few answers of every
// leader at replica.fetch.response.max.bytes' size.
const fetchAnswerPoolBytes = 64 << 20

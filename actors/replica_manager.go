package actors

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
)

// replicaManager is the node's owner of partition actors, one per node: the
// parent and supervisor of every replica the node hosts. It reads each
// metadata image the node applies, starts, stops (deleting their data) and
// reconfigures the replicas cluster.LocalChanges lists, and publishes the
// routes the router reads. Nothing but the image tells it what to host.
type replicaManager struct {
	node *Node
	// incarnations counts this actor's starts, across restarts.
	incarnations *atomic.Int32
	image        *cluster.MetadataImage
	slots        partitionSlots
	// hosted maps a running partition actor's id to its replica.
	hosted map[string]*hostedReplica
	// fetchers is the fetcher manager, a child of this actor.
	fetchers *actor.PID
	data     dataRemoval
	// shuttingDown is set once the manager stops or restarts: its children
	// stop with it, which is no partition failure.
	shuttingDown bool
	logger       *zap.Logger
	// offline are the replicas whose actor stopped, and their retries
	// (replica_offline.go); retryTimer sends offlineRetryDue.
	offline    *cluster.OfflineReplicas
	retryTimer tickTimer
	// hold holds images back until the broker caught up
	// (replica_manager_hold.go).
	hold replicaHold
	// preloads are the logs opened while holding (partition_preload.go).
	preloads *logPreloads
}

// hostedReplica is a partition actor the manager started.
type hostedReplica struct {
	topic     string
	topicID   cluster.TopicID
	partition int32
	// stopping is set when the manager stopped it; delete says its data
	// goes too, topicDeleted that its topic is gone.
	stopping, delete, topicDeleted bool
	// assignment is the partition's latest record and settings: a
	// restarted actor starts from it.
	assignment *atomic.Pointer[partitionAssignment]
}

// metadataImageApplied hands the replica manager the image the node
// applied; it answers routesPublished once the routes include it.
type metadataImageApplied struct{ image *cluster.MetadataImage }

// routesPublished says the routes include every change up to epoch.
type routesPublished struct{ epoch int64 }

// replicaManagerReady is answered once the manager has started the
// replicas of its first image and published their routes.
type replicaManagerReady struct{}

// replicaManagerRestarted asks the quorum actor for its latest image again:
// a restarted manager may have lost one.
type replicaManagerRestarted struct{}

// node starts with and waits until its replicas run.
func (n *Node) startReplicaManager(image *cluster.MetadataImage) error {
	// The manager starts from the published image, on a restart too.
	n.routes.store(&routes{image: image})
	incarnations := &atomic.Int32{}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &replicaManager{node: n, incarnations: incarnations, logger: n.logger.Named("replica_manager")}
	}, actor.WithSupervisor(partitionSupervisor()))
	pid, err := n.system.Root.SpawnNamed(props, "replica-manager")
	if err != nil {
		return err
	}
	n.replicaManager = pid
	_, err = n.system.Root.RequestFuture(pid, &replicaManagerReady{}, time.Minute).Result()
	return err
}

// Receive implements actor.Actor.
func (m *replicaManager) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.hosted = map[string]*hostedReplica{}
		m.data = newDataRemoval()
		m.image = cluster.NewMetadataImage()
		m.fetchers = spawnFetcherManager(ctx, m.node)
		m.queueLeftovers()
		m.startHold()
		m.offer(ctx, m.node.routes.load().image)
		if m.incarnations.Add(1) > 1 && m.node.quorumStarted.Load() {
			// A quorum actor started later hands its images on anyway.
			ctx.Send(m.node.quorum, &replicaManagerRestarted{})
		}
	case *replicaManagerReady:
		ctx.Respond(msg)
	case *metadataImageApplied:
		m.offer(ctx, msg.image)
		ctx.Respond(&routesPublished{epoch: msg.image.Epoch})
	case *publishCaughtUp:
		m.release(ctx)
		ctx.Respond(&caughtUpPublished{})
	case *partitionDataRemoved:
		m.dataRemoved(ctx, msg)
	case *offlineRetryDue:
		m.retryOffline(ctx)
	case *actor.Terminated:
		if !m.shuttingDown {
			m.terminated(ctx, msg.Who)
		}
	case *actor.Stopping, *actor.Restarting:
		m.shuttingDown = true
		m.retryTimer.stop()
		m.preloads.discardAll()
	}
}

// apply moves the node's replicas from what the current image assigns it
// to what next assigns it, then publishes routes over next.
func (m *replicaManager) apply(ctx actor.Context, next *cluster.MetadataImage) {
	ch := cluster.LocalChanges(m.image, next, m.node.cfg.NodeID)
	prev := m.image
	m.node.replicationMetrics.imageApplied(m.image, next, m.node.cfg.NodeID)
	m.image = next
	// Count every replica of a deleted topic before any is retired, so the
	// deletion ends with the last of them.
	for _, st := range ch.Stop {
		if st.Delete {
			_, kept := next.TopicByID(st.TopicID)
			m.data.expect(m.node.partitionDir(st.Topic, st.Partition.Partition), st.Topic, !kept)
		}
	}
	for _, st := range ch.Stop {
		m.stop(ctx, st)
	}
	for _, st := range ch.Stop {
		if _, kept := next.TopicByID(st.TopicID); !kept {
			m.slots.drop(st.Topic)
		}
	}
	for _, r := range ch.Start {
		m.start(ctx, r)
	}
	var later []string // lowering min.insync.replicas: after the partition changes
	for _, topic := range ch.Reconfigure {
		if cluster.ReconfigureAfterChanges(m.node.topicSettings(prev, topic), m.node.topicSettings(next, topic)) {
			later = append(later, topic)
		} else {
			m.reconfigure(ctx, next, topic)
		}
	}
	m.eligibilityChanged(ctx, prev, next)
	m.truncateOnFetchChanged(ctx, prev, next)
	for _, r := range ch.Changed {
		m.leadershipChanged(ctx, r)
		m.node.groups.leadershipChanged(ctx, r, m.slots.get(r.Topic, r.Partition.Partition))
		m.node.txns.leadershipChanged(ctx, r, m.slots.get(r.Topic, r.Partition.Partition))
	}
	for _, topic := range later {
		m.reconfigure(ctx, next, topic)
	}
	m.publish()
	m.data.run(ctx, m.node)
}

// reconfigure hands a topic's settings in next to its partition actors.
func (m *replicaManager) reconfigure(ctx actor.Context, next *cluster.MetadataImage, topic string) {
	settings := m.node.topicSettings(next, topic)
	for _, pid := range m.slots.pids(topic) {
		if h := m.hostedBy(pid); h != nil {
			pa := *h.assignment.Load()
			pa.settings = settings
			h.assignment.Store(&pa)
			ctx.Send(pid, &topicConfigsChanged{settings: settings})
		}
	}
}

// start spawns a replica's partition actor, unless the data of a replica
// stopped in that directory is still being removed: it starts once it is.
func (m *replicaManager) start(ctx actor.Context, r cluster.LocalReplica) {
	dir := m.node.partitionDir(r.Topic, r.Partition.Partition)
	if m.data.busy(dir) {
		m.data.deferred[dir] = r
		return
	}
	pa := &partitionAssignment{topic: r.Topic, topicID: r.TopicID, image: r.Partition, settings: m.node.topicSettings(m.image, r.Topic),
		fetchers: m.fetchers, ineligible: m.image.ISRIneligibleReplicas(r.TopicID, r.Partition.Partition), brokerEpochs: m.image.BrokerEpochs(), truncateOnFetch: m.node.truncateOnFetch(m.image), preload: m.preloads.claim(dir, r.TopicID), retired: &atomic.Bool{},
		board: newFetchBoard()}
	latest := &atomic.Pointer[partitionAssignment]{}
	latest.Store(pa)
	// A restart (supervision) starts from the latest assignment.
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newPartitionActor(m.node, *latest.Load()) },
		actor.WithDispatcher(m.node.dispatcher), actor.WithMailbox(func() actor.Mailbox { return partitionMailboxWith(pa.board) })))
	m.logger.Debug("replica started", zap.String("topic", r.Topic), zap.Int32("partition", r.Partition.Partition),
		zap.Int32("leader", r.Partition.Leader), zap.Int32("leader_epoch", r.Partition.LeaderEpoch))
	m.hosted[pid.Id] = &hostedReplica{topic: r.Topic, topicID: r.TopicID, partition: r.Partition.Partition, assignment: latest}
	m.replicaOnline(ctx, r.TopicID, r.Partition.Partition, false)
	m.slots.set(m.image, r.Topic, r.Partition.Partition, pid)
	m.node.groups.partitionStarted(ctx, r, pid)
	m.node.txns.partitionStarted(ctx, r, pid)
}

// stop stops a replica's actor; its data goes once the actor has closed its
// log (apply counted it with expect).
func (m *replicaManager) stop(ctx actor.Context, st cluster.ReplicaStop) {
	topic, p := st.Topic, st.Partition.Partition
	m.replicaOnline(ctx, st.TopicID, p, true)
	m.node.groups.partitionStopping(ctx, topic, p)
	m.node.txns.partitionStopping(ctx, topic, p)
	_, topicKept := m.image.TopicByID(st.TopicID)
	pid := m.slots.get(topic, p)
	m.slots.set(m.image, topic, p, nil)
	dir := m.node.partitionDir(topic, p)
	if r, ok := m.data.deferred[dir]; ok && r.TopicID == st.TopicID {
		// It never started; its directory is going already.
		delete(m.data.deferred, dir)
		return
	}
	var h *hostedReplica
	if pid != nil {
		h = m.hosted[pid.Id]
	}
	if h == nil {
		// Offline already: nothing to wait for.
		if st.Delete {
			m.retire(ctx, &hostedReplica{topic: topic, topicID: st.TopicID, partition: p, topicDeleted: !topicKept})
		}
		return
	}
	h.stopping, h.delete, h.topicDeleted = true, st.Delete, !topicKept
	if st.Delete {
		h.assignment.Load().retired.Store(true)
	}
	ctx.Stop(pid)
}

// terminated handles the end of a partition actor: one the manager stopped
// has its data removed if it was deleted; any other stopped because the
// supervisor gave up on a corrupt or failing log, and its partition is
// offline.
func (m *replicaManager) terminated(ctx actor.Context, who *actor.PID) {
	h, ok := m.hosted[who.Id]
	if !ok {
		return
	}
	delete(m.hosted, who.Id)
	switch {
	case !h.stopping:
		m.wentOffline(ctx, h)
		if pid := m.slots.get(h.topic, h.partition); pid != nil && pid.Id == who.Id {
			m.slots.set(m.image, h.topic, h.partition, nil)
			m.publish()
		}
	case h.delete:
		if m.retire(ctx, h) {
			m.publish()
		}
	}
}

// publish makes the image and the partition actors visible to the router.
func (m *replicaManager) publish() {
	m.node.routes.store(&routes{image: m.image, partitions: m.slots.commit()})
}

// hostedBy is the replica a running partition actor hosts, nil for none.
func (m *replicaManager) hostedBy(pid *actor.PID) *hostedReplica {
	if pid == nil {
		return nil
	}
	return m.hosted[pid.Id]
}

// leadershipChanged hands a replica's changed record to its actor, which
// leads or follows as it says (an offline replica starts again when its
// backoff ends, from the latest record: retryOffline).
func (m *replicaManager) leadershipChanged(ctx actor.Context, r cluster.LocalReplica) {
	p := r.Partition
	pid := m.slots.get(r.Topic, p.Partition)
	h := m.hostedBy(pid)
	if h == nil {
		return
	}
	m.logger.Debug("partition record changed", zap.String("topic", r.Topic), zap.Int32("partition", p.Partition),
		zap.Int32("leader", p.Leader), zap.Int32("leader_epoch", p.LeaderEpoch), zap.Int32s("isr", p.ISR))
	pa := *h.assignment.Load()
	pa.image = p
	h.assignment.Store(&pa)
	ctx.Send(pid, &partitionChanged{image: p})
}

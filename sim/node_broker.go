package sim

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// The broker shell of a node: its lifecycle with the controller
// (registration, heartbeats, fencing, controlled shutdown, offline
// replicas), decided by production's core cluster.BrokerLifecycle; the
// replica manager (it diffs metadata images with cluster.LocalChanges and
// starts, stops and changes replicas); and the router's part for produce,
// metadata and OffsetForLeaderEpoch requests.

// produceRequest is one partition of a Produce request, as the router hands
// it to a partition.
type produceRequest struct {
	topic     string
	partition int32
	records   []byte
	acks      int16
	timeoutMs int32
}

type produceResponse struct {
	errorCode  int16
	baseOffset int64
	// logAppendTimeMs is the records' LogAppendTime (-1 under CreateTime);
	// wallMs the answering node's wall clock when it answered.
	logAppendTimeMs int64
	wallMs          int64
	// leaderEpoch is the answering replica's leader epoch (the simulator's
	// bookkeeping: Kafka's answer does not carry it, and no client acts on
	// it; out_of_order.go sorts failures by it).
	leaderEpoch int32
	// topicID is the answering replica's topic id (Produce v13's answer
	// names it; topic_recreate.go).
	topicID cluster.TopicID
}

// metadataRequest asks a broker for its metadata image, as Metadata does.
type metadataRequest struct{}

type metadataResponse struct {
	controller int32
	brokers    []int32
	topics     []topicMetadata
}

type topicMetadata struct {
	name       string
	id         cluster.TopicID
	partitions []cluster.PartitionImage
	// unclean and minISR are the topic's settings, which the checkers need;
	// compacted says cleanup.policy has compact (its records need keys).
	unclean   bool
	minISR    int
	compacted bool
}

// startLifecycle builds the broker lifecycle core of a new process (the
// core production's broker lifecycle actor drives) and starts it
// registering.
func (n *node) startLifecycle() {
	w := n.w
	var listeners []cluster.BrokerEndpoint
	for _, name := range []string{"CONTROLLER", "PLAINTEXT"} {
		listeners = append(listeners, cluster.BrokerEndpoint{Name: name, Host: n.name(), Port: 9092})
	}
	n.lifecycle = cluster.NewBrokerLifecycle(cluster.BrokerLifecycleConfig{
		NodeID: n.id, IncarnationID: n.incarnation, Listeners: listeners,
		HeartbeatIntervalMs: w.timing.heartbeatIntervalMs, SessionTimeoutMs: w.timing.sessionTimeoutMs,
		RetryBackoffMs: w.timing.retryBackoffMs, PreviousBrokerEpoch: n.previousBrokerEpoch, WaitRunningMarker: true,
	})
	n.lifecycle.SetClusterID(n.image.ClusterID())
	n.lifecycle.MetadataApplied(n.image.LastOffset())
	n.lifecycle.OtherBrokersActive(n.image.ActiveBrokerOtherThan(n.id))
	n.lifecycle.QuorumLeader(n.instant(), n.leadership.LeaderID)
	n.noController = n.noControllerPast()
	n.lifecycle.QuorumResigned(n.instant(), n.noController)
	n.lifecycle.Start(n.instant())
	n.driveLifecycle()
}

// driveLifecycle carries out what the lifecycle core decided, as the
// broker lifecycle actor does: its request goes to the active controller
// (its answer back to the core), and its new state moves the node.
func (n *node) driveLifecycle() {
	lc := n.lifecycle
	if lc == nil {
		return
	}
	if epoch := lc.BrokerEpoch(); epoch >= 0 && epoch != n.markedEpoch {
		// Registered: a crash without a power loss from now on loses
		// nothing the logs wrote. Until the marker is written, the core
		// keeps the broker fenced; it is tried again at every step
		// (production's lifecycle actor does the same).
		err := logstore.WriteBrokerRunning(n.fs, dataDir, epoch, n.bootID())
		if err == nil {
			n.markedEpoch = epoch
		} else if n.unmarkedEpoch != epoch {
			n.unmarkedEpoch = epoch
			n.w.tracef("%s: running marker not written (the broker stays fenced until it is): %v", n.name(), err)
		}
		lc.RunningMarker(n.instant(), err == nil)
	}
	rd := lc.Ready()
	if req := rd.Request; req != nil {
		n.sendToControllerFrom(req, rd.TimeoutMs, func(resp kmsg.Response, err error, from int32) {
			if n.lifecycle != lc {
				return
			}
			if from == n.id {
				lc.AnsweredLocally(n.instant(), req, resp, err)
			} else {
				lc.AnsweredTo(n.instant(), req, resp, err)
			}
			n.driveLifecycle()
		})
	}
	if rd.StateChanged {
		n.lifecycleChanged(rd.Reason)
	}
}

// lifecycleChanged moves the node to the broker's new state: registered,
// its replicas may start; failed, the process stops; done with its
// controlled shutdown, the node stops.
func (n *node) lifecycleChanged(reason string) {
	lc := n.lifecycle
	n.w.tracef("%s: broker %s (%s), broker epoch %d", n.name(), lc.State(), reason, lc.BrokerEpoch())
	switch lc.State() {
	case cluster.BrokerRecovery, cluster.BrokerRunning:
		n.maybeStartReplicas()
	case cluster.BrokerFailed:
		n.fail(lc.Err())
	case cluster.BrokerShuttingDown:
		if done := n.shutdownDone; done != nil {
			n.shutdownDone = nil
			n.post(done)
		}
	}
}

// bootID is the id of the node's machine's current boot: a power loss
// reboots it.
func (n *node) bootID() string { return fmt.Sprintf("boot-%d", n.boots) }

// brokerEpoch is the epoch of the broker's registration, -1 before it.
func (n *node) brokerEpoch() int64 {
	if n.lifecycle == nil {
		return -1
	}
	return n.lifecycle.BrokerEpoch()
}

// offlineReplicasChanged tells the lifecycle core the directory ids of the
// node's offline replicas, which its heartbeats carry so that the
// controller moves their leadership (KIP-858 shape), as the replica
// manager tells production's.
func (n *node) offlineReplicasChanged() {
	if n.lifecycle == nil {
		return
	}
	var dirs [][16]byte
	for _, k := range n.keys {
		if h := n.replicas[k]; h != nil && h.offline != nil {
			dirs = append(dirs, cluster.PartitionDirectoryID(h.topicID, k.partition))
		}
	}
	n.lifecycle.SetOfflineDirectories(dirs)
}

// metadataApplied tells the lifecycle core the metadata offset the node
// applied, which its heartbeats carry.
func (n *node) metadataApplied() {
	if n.lifecycle != nil {
		n.lifecycle.SetClusterID(n.image.ClusterID())
		n.lifecycle.MetadataApplied(n.image.LastOffset())
		n.lifecycle.OtherBrokersActive(n.image.ActiveBrokerOtherThan(n.id))
	}
}

// sendToController sends a request to the active controller as
// production's controller channel does: to the quorum leader the node
// knows (else the voters in turn), each attempt bounded by the controller
// request timeout and the call's own; an unreachable or silent voter, or a
// NOT_CONTROLLER answer, moves it to another voter after a backoff that
// doubles from 25 ms to 500 ms, until the call's time is up.
func (n *node) sendToController(req kmsg.Request, timeoutMs int64, done func(kmsg.Response, error)) {
	n.sendToControllerFrom(req, timeoutMs, func(resp kmsg.Response, err error, _ int32) { done(resp, err) })
}

// sendToControllerFrom is sendToController whose done also gets the node
// whose controller answered (-1 when none did).
func (n *node) sendToControllerFrom(req kmsg.Request, timeoutMs int64, done func(kmsg.Response, error, int32)) {
	w := n.w
	deadline := w.now + timeoutMs
	attempts := 0
	var last kmsg.Response
	var lastErr error
	var try func()
	try = func() {
		remaining := deadline - w.now
		if remaining <= 0 {
			if last == nil && lastErr == nil {
				lastErr = errTimeout
			}
			if last != nil {
				lastErr = nil
			}
			done(last, lastErr, -1)
			return
		}
		target := n.controllerTarget()
		w.call(n, n.id, target, req, min(remaining, w.timing.controllerRPCTimeoutMs), func(body any, err error) {
			resp, _ := body.(kmsg.Response)
			if err == nil && resp != nil && !notController(resp) {
				done(resp, nil, target)
				return
			}
			if resp != nil {
				last = resp
			}
			lastErr = err
			n.controllerMissed()
			attempts++
			n.after(min(int64(25)<<min(attempts, 5), 500), try)
		})
	}
	try()
}

// notController says a controller answer is NOT_CONTROLLER.
func notController(resp kmsg.Response) bool {
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode == kerr.NotController.Code
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode == kerr.NotController.Code
	}
	return false
}

// maybeStartReplicas turns the replica manager on once the node's own
// registration is in its image (the broker caught up with the metadata past
// it), as a Kafka broker starts its replicas after registering.
func (n *node) maybeStartReplicas() {
	if n.replicasOn || n.brokerEpoch() < 0 {
		return
	}
	if b, ok := n.image.Broker(n.id); !ok || b.Epoch != n.brokerEpoch() {
		return
	}
	n.replicasOn = true
	n.renameStrays()
	n.hosted = cluster.NewMetadataImage()
	n.imageChanged()
}

// imageChanged moves the node's replicas to what its image assigns it.
func (n *node) imageChanged() {
	n.metadataApplied()
	if !n.replicasOn {
		n.maybeStartReplicas()
		return
	}
	if n.hosted == n.image {
		return
	}
	ch := cluster.LocalChanges(n.hosted, n.image, n.id)
	prev := n.hosted
	n.hosted = n.image
	// As the replica manager does, before the replicas take their
	// partitions' changes: followers truncate on fetch once the cluster
	// finalized gregor.replication.version 1 (unless the node asks
	// OffsetForLeaderEpoch first, Options.AskEpochFirst).
	if on := n.truncateOnFetch(); on != n.truncatesOnFetch {
		n.truncatesOnFetch = on
		for _, k := range n.keys {
			if h := n.replicas[k]; h != nil && h.core != nil {
				h.deliver(func() {
					h.core.SetTruncateOnFetch(on)
					h.carryOut()
				})
			}
		}
	}
	for _, st := range ch.Stop {
		if h := n.replicas[tpKey{st.Topic, st.Partition.Partition}]; h != nil {
			wasOffline := h.offline != nil
			h.offline = nil
			h.stop(st.Delete)
			n.retries.Removed(h.offlineID())
			if wasOffline {
				n.offlineReplicasChanged()
			}
		}
	}
	for _, r := range ch.Start {
		n.startReplica(r)
	}
	// Settings that lower min.insync.replicas go after the partition
	// changes (cluster.ReconfigureAfterChanges).
	var later []string
	for _, topic := range ch.Reconfigure {
		if ot, ok := prev.Topic(topic); ok {
			if t, ok := n.image.Topic(topic); ok && cluster.ReconfigureAfterChanges(n.w.topicSettings(prev, ot), n.w.topicSettings(n.image, t)) {
				later = append(later, topic)
				continue
			}
		}
		n.reconfigure(topic)
	}
	for _, r := range ch.Changed {
		if h := n.replicas[tpKey{r.Topic, r.Partition.Partition}]; h != nil && h.core != nil {
			h.deliver(func() {
				h.core.PartitionChanged(r.Partition, n.instant())
				h.carryOut()
			})
		}
	}
	for _, topic := range later {
		n.reconfigure(topic)
	}
	// As the replica manager does: leaders stop waiting for followers on
	// brokers that may join no ISR, or that report their replica offline.
	ineligible, offline := n.image.ISRIneligibleBrokers(), n.image.HasOfflineReplicas()
	if !slices.Equal(ineligible, n.ineligible) || offline || n.offlineSeen {
		n.ineligible, n.offlineSeen = ineligible, offline
		epochs := n.image.BrokerEpochs()
		for _, k := range n.keys {
			if h := n.replicas[k]; h != nil && h.core != nil {
				if in := n.image.ISRIneligibleReplicas(h.topicID, k.partition); !slices.Equal(in, h.ineligible) {
					h.ineligible = in
					h.deliver(func() {
						h.core.SetIneligibleReplicas(in, epochs, n.instant())
						h.carryOut()
					})
				}
			}
		}
	}
}

// reconfigure hands a topic's settings in the node's image to its
// replicas.
func (n *node) reconfigure(topic string) {
	t, ok := n.image.Topic(topic)
	if !ok {
		return
	}
	settings := n.w.topicSettings(n.image, t)
	for _, k := range n.keys {
		if h := n.replicas[k]; k.topic == topic && h.core != nil {
			unclean := n.w.uncleanEnabled(n.image, t)
			h.deliver(func() {
				// What S3 holds the leader to, from now on.
				h.minISR, h.unclean = settings.Replica.MinInsyncReplicas, unclean
				h.core.SetConfig(settings)
				h.carryOut()
			})
		}
	}
}

// serveProduce routes one partition of a produce to its replica.
func (n *node) serveProduce(m *message, req *produceRequest) {
	h := n.replicas[tpKey{req.topic, req.partition}]
	if h == nil || h.core == nil {
		code := kerr.NotLeaderForPartition.Code
		if t, ok := n.image.Topic(req.topic); !ok || req.partition >= t.PartitionCount() {
			code = kerr.UnknownTopicOrPartition.Code
		}
		n.w.respond(m, &produceResponse{errorCode: code, baseOffset: -1})
		return
	}
	id := h.await(waiter{kind: waitProduce, req: m})
	h.deliver(func() {
		h.core.Produce(id, cluster.ProduceRequest{Records: req.records, Acks: req.acks, TimeoutMs: req.timeoutMs}, n.instant())
		h.carryOut()
	})
}

// metadata answers a Metadata request from the node's image.
func (n *node) metadata() *metadataResponse {
	resp := &metadataResponse{controller: n.leadership.LeaderID}
	for b := range n.image.Brokers() {
		resp.brokers = append(resp.brokers, b.ID)
	}
	for t := range n.image.Topics() {
		s := n.w.topicSettings(n.image, t)
		resp.topics = append(resp.topics, topicMetadata{name: t.Name, id: t.ID, partitions: slices.Clone(t.Partitions),
			unclean: n.w.uncleanEnabled(n.image, t), minISR: s.Replica.MinInsyncReplicas, compacted: s.Log.CleanupPolicyCompact})
	}
	return resp
}

// serveOffsetForLeaderEpoch answers each partition from its replica; the
// replica core answers at once, but a replica busy with a slow leader
// append (slow_leader.go) takes the request from its mailbox, as the
// partition actor does, and the response goes once every partition has
// its answer (a replica stopped meanwhile answers NOT_LEADER_OR_FOLLOWER).
func (n *node) serveOffsetForLeaderEpoch(m *message, req *kmsg.OffsetForLeaderEpochRequest) {
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	pending, issued := 0, false
	answer := func(int16) {
		pending--
		if issued && pending == 0 {
			n.w.respond(m, resp)
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			*rp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, kerr.NotLeaderForPartition.Code, -1, -1
			h := n.replicas[tpKey{t.Topic, p.Partition}]
			if h == nil || h.core == nil {
				continue
			}
			pending++
			if h.busy {
				n.w.stats.SlowLeaderEpochAsksHeld++
			}
			id := h.await(waiter{kind: waitEpochEnd, epochEnd: rp, done: answer})
			ask := cluster.OffsetForLeaderEpochRequest{CurrentLeaderEpoch: p.CurrentLeaderEpoch, LeaderEpoch: p.LeaderEpoch}
			h.deliver(func() {
				h.core.OffsetForLeaderEpoch(id, ask)
				h.carryOut()
			})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	issued = true
	if pending == 0 {
		n.w.respond(m, resp)
	}
}

// sendAlterPartition asks the controller for a replica's ISR change and
// hands the answer back to the replica (transport failures and
// NOT_CONTROLLER as REQUEST_TIMED_OUT, which the replica retries).
func (n *node) sendAlterPartition(h *replicaHost, ap cluster.AlterPartitionRequest) {
	w := n.w
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = n.id, n.brokerEpoch()
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic, rt.TopicID = h.key.topic, h.topicID
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = h.key.partition, ap.LeaderEpoch, ap.PartitionEpoch
	for i, b := range ap.ISR {
		e := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
		e.BrokerID, e.BrokerEpoch = b, ap.BrokerEpochs[i]
		if b == n.id {
			e.BrokerEpoch = n.brokerEpoch()
		}
		rp.NewEpochISR = append(rp.NewEpochISR, e)
		rp.NewISR = append(rp.NewISR, b)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	w.stats.AlterPartitions++
	lagging := w.metadataLagging(n)
	if lagging {
		w.stats.LaggedAlterPartitions++
	}
	w.call(n, n.id, n.controllerTarget(), req, w.timing.controllerRPCTimeoutMs, func(body any, err error) {
		if n.replicas[h.key] != h || h.core == nil {
			return
		}
		res := cluster.AlterPartitionResult{Seq: ap.Seq, ErrorCode: kerr.RequestTimedOut.Code, LeaderEpoch: -1, PartitionEpoch: -1}
		resp, _ := body.(*kmsg.AlterPartitionResponse)
		switch {
		case err != nil || resp == nil:
			n.controllerMissed()
		case resp.ErrorCode == kerr.NotController.Code:
			n.controllerMissed()
		case resp.ErrorCode != 0:
			res.ErrorCode = resp.ErrorCode
		case len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1:
			p := resp.Topics[0].Partitions[0]
			res.ErrorCode = p.ErrorCode
			if p.ErrorCode == kerr.NotController.Code {
				res.ErrorCode = kerr.RequestTimedOut.Code
			}
			if lagging && p.ErrorCode == kerr.InvalidUpdateVersion.Code {
				w.stats.LaggedAlterPartitionsRefused++
				w.timelinef("%s: %s ISR %v refused at partition epoch %d (INVALID_UPDATE_VERSION): its metadata lags", n.name(), h.key, ap.ISR, ap.PartitionEpoch)
			}
			if p.ErrorCode == 0 {
				res.LeaderEpoch, res.PartitionEpoch, res.ISR = p.LeaderEpoch, p.PartitionEpoch, p.ISR
			}
		}
		h.deliver(func() {
			h.core.AlterPartitionCompleted(res, n.instant())
			h.carryOut()
		})
	})
}

// startReplica opens a replica's log and builds its core.
func (n *node) startReplica(r cluster.LocalReplica) {
	t, ok := n.image.Topic(r.Topic)
	if !ok {
		return
	}
	k := tpKey{r.Topic, r.Partition.Partition}
	if old := n.replicas[k]; old != nil {
		wasOffline := old.offline != nil
		old.offline = nil
		old.stop(false)
		if wasOffline {
			n.offlineReplicasChanged()
		}
	}
	h := &replicaHost{n: n, key: k, topicID: r.TopicID, waiting: map[cluster.RequestID]waiter{}}
	n.replicas[k] = h
	delete(n.leftDirs, h.dir()[len(dataDir)+1:])
	n.retries.Started(h.offlineID(), n.instant().MonoMs)
	n.keys = append(n.keys, k)
	slices.SortFunc(n.keys, compareKeys)
	settings := n.w.topicSettings(n.image, t)
	h.open(r.Partition, settings, n.checkpointed[logstore.TopicPartition{Topic: k.topic, Partition: k.partition}])
}

// topicSettings are a topic's effective configs, as the node resolves them.
// The simulated nodes run without a block cache, and read their logs in
// the smallest blocks logstore allows (without a cache, every read copies
// whole blocks: 64 KiB by default for a batch of a hundred bytes).
func (w *World) topicSettings(img *cluster.MetadataImage, t *cluster.TopicImage) cluster.TopicSettings {
	s := cluster.ResolveTopicSettings(t, cluster.BrokerConfigs{Dynamic: img.BrokerConfigs(), Static: w.staticConfigs}, false)
	s.Log.CacheBlockBytes = 4 << 10
	return w.brokerRetentionTopicSettings(img, s)
}

// uncleanEnabled reads a topic's unclean.leader.election.enable.
func (w *World) uncleanEnabled(img *cluster.MetadataImage, t *cluster.TopicImage) bool {
	v, _ := cluster.TopicConfigValue(t, cluster.BrokerConfigs{Dynamic: img.BrokerConfigs(), Static: w.staticConfigs}, "unclean.leader.election.enable")
	return v == "true"
}

// controlledShutdown stops a node gracefully, as `gregor serve` does on
// SIGTERM: its lifecycle core asks the controller to move its leadership
// away (heartbeats with WantShutdown) until the controller lets it stop, or
// the controlled shutdown times out; then it hands the quorum's leadership
// on (node_quorum.go), the process stops (its files stay as written) and
// then runs. A node that crashes meanwhile does not run then.
func (w *World) controlledShutdown(n *node, then func()) {
	if !n.up || n.lifecycle == nil {
		return
	}
	w.stats.ControlledShutdowns++
	w.timelinef("fault: %s shuts down (controlled shutdown)", n.name())
	w.rec.begin(w.now, "down", n.name(), "controlled shutdown")
	n.shutdownDone = func() {
		n.handOffLeadership(func() {
			n.markCleanShutdown()
			n.closeConnections()
			n.stopProcess()
			w.timelinef("%s stopped after its controlled shutdown", n.name())
			then()
		})
	}
	n.at(w.now, func() {
		n.lifecycle.BeginControlledShutdown(n.instant())
		n.driveLifecycle()
		if n.q != nil && n.shutdownDone != nil {
			// The quorum's leader hears this voter stops, and awaits a
			// controller (node_quorum.go says when it needs none).
			n.q.Stopping(true)
			n.settle()
		}
	})
}

// markCleanShutdown closes every replica's log cleanly (synced, with its
// own clean shutdown marker), as a stopping process's partitions do, and
// then leaves the broker's clean shutdown marker with its broker epoch (or
// the last process's, when it never registered), so the next process
// registers as after a clean shutdown (KIP-966). A log that does not
// close, or a node with no epoch, leaves none.
func (n *node) markCleanShutdown() {
	epoch := int64(-1)
	if n.lifecycle != nil {
		epoch = n.lifecycle.BrokerEpoch()
	}
	if p := n.previousBrokerEpoch; epoch < 0 && p != nil {
		// It never registered: its data is what the last process left.
		epoch = *p
	}
	clean := epoch >= 0
	for _, k := range n.keys {
		if h := n.replicas[k]; h != nil && h.log != nil {
			if err := h.log.Close(); err != nil {
				n.w.tracef("%s: %s does not close cleanly: %v", n.name(), k, err)
				clean = false
			}
		}
	}
	if !clean {
		return
	}
	if err := logstore.WriteBrokerCleanShutdown(n.fs, dataDir, epoch); err != nil {
		n.w.tracef("%s: no clean shutdown marker: %v", n.name(), err)
	}
}

// truncateOnFetch says whether the node's followers truncate on fetch: the
// cluster finalized gregor.replication.version 1 and the node is not one of
// Options.AskEpochFirst.
func (n *node) truncateOnFetch() bool {
	return n.image != nil && cluster.TruncateOnFetchAllowed(n.image.FeatureLevel(cluster.ReplicationVersionFeature)) &&
		!slices.Contains(n.w.opts.AskEpochFirst, n.id)
}

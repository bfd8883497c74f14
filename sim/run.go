package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gregor/groups"
	"gregor/txn"
)

// Bounds of the liveness mode (CORRECTNESS.md L1): after healing, the
// cluster must converge within convergeBoundMs of simulated time, and the
// final read must catch up within finalReadBoundMs.
const (
	convergeBoundMs  = 120_000
	finalReadBoundMs = 60_000
)

// Run plays one seed: the cluster starts, the workload and the profile's
// faults run for opts.DurationMs, then every fault heals, the cluster must
// converge (liveness), everything acknowledged is read back, and the
// history is checked. Every server invariant is checked after every event.
// Runs in one process are serialised (see seedCryptoRand).
func Run(opts Options) *Report {
	defer seedCryptoRand(opts.Seed)()
	w := newWorld(opts)
	w.guard(w.play)
	return w.finalReport()
}

// finalReport is the run's report, with its page written if one is asked
// for.
func (w *World) finalReport() *Report {
	rep := w.report()
	if w.opts.HTML != nil {
		rep.HTMLErr = w.writeHTML(w.opts.HTML, rep)
	}
	return rep
}

// play is a whole swarm run.
func (w *World) play() {
	w.timelinef("start: %d nodes, profile: %s", len(w.nodes), w.profile)
	if w.profile.LeaderBalanceEveryMs == 0 {
		w.timelinef("leader imbalance checks every %s (drawn)", fmtMs(w.timing.leaderBalanceMs))
	}
	w.startDrift()
	w.startCluster()
	w.startWorkload()
	w.faults.start()
	w.runUntil(w.opts.DurationMs)
	if w.stopped {
		return
	}
	w.stopWorkload()
	w.heal()
	w.finish()
}

// finish waits for convergence, reads everything back and checks the
// history (the liveness mode).
func (w *World) finish() {
	if !w.awaitRecreated(convergeBoundMs) || !w.awaitConvergence(convergeBoundMs) || !w.awaitPreferredLeaders() {
		return
	}
	w.checkReplicasIdentical()
	w.checkNoStaleReplicas()
	if w.stopped || !w.awaitGroupsStable(groupsStableBoundMs) || !w.finalRead(finalReadBoundMs) {
		return
	}
	w.checkTimestampLookups()
	w.checkHistory(true)
	w.phase = phaseDone
}

// startWorkload creates the clients of the profile: an admin that creates
// the first topics (and more, and partitions, during the run), producers
// and consumers.
func (w *World) startWorkload() {
	p := w.profile
	admin := w.newClient(adminClient)
	for i := 0; i < p.Topics; i++ {
		admin.pendingTopics = append(admin.pendingTopics, w.drawTopic(fmt.Sprintf("t%d", i), p.Partitions))
	}
	if p.EmptyStretchEveryMs > 0 && len(w.nodes) >= 3 {
		admin.pendingTopics = append(admin.pendingTopics, stretchTopicSpec())
		w.startStretchPrefix()
	}
	admin.startAdmin()
	for i := 0; i < p.Producers; i++ {
		c := w.newClient(producerClient)
		c.acks, c.meanMs = 1, p.ProduceEveryMs
		if float64(i) < p.AcksAllShare*float64(p.Producers) {
			c.acks = -1
		}
		c.startProducer()
	}
	for i := 0; i < p.Consumers; i++ {
		c := w.newClient(consumerClient)
		c.readCommitted = i == 0 && p.ReadCommitted
		c.startConsumer()
	}
	if p.GroupMembers > 0 {
		admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: groups.OffsetsTopic, partitions: offsetsPartitions,
			rf: int16(min(3, len(w.nodes))), minISR: p.MinISR, compacted: true})
		for i := 0; i < p.GroupMembers; i++ {
			group := fmt.Sprintf("g%d", i/3)
			if p.ClassicGroups {
				group = "c" + group
			}
			c := w.newClient(groupClient)
			c.startGroupMember(group, p.ClassicGroups)
			if p.autoCommit(i) {
				c.member.app = newAppState(int64(p.ProcessMs))
			}
		}
	}
	w.startTxnWorkload(admin)
	w.startDeleteRecords(admin)
	w.startRetention(admin)
	w.startRecreateTopic(admin)
	topics := p.Topics
	if p.CreateTopicEveryMs > 0 {
		w.repeatWhileFaulty(w.rngWorkload, p.CreateTopicEveryMs, nil, func() {
			admin.pendingTopics = append(admin.pendingTopics, w.drawTopic(fmt.Sprintf("t%d", topics), 1+w.rngWorkload.IntN(3)))
			topics++
		})
	}
	if p.AddPartitionEveryMs > 0 {
		w.repeatWhileFaulty(w.rngWorkload, p.AddPartitionEveryMs, nil, func() {
			if names := admin.topicNames(); len(names) > 0 {
				admin.createPartitions(names[w.rngWorkload.IntN(len(names))])
			}
		})
	}
}

// repeatWhileFaulty runs fn after gaps drawn from r (exponential, of mean
// meanMs, at least 1 ms) for as long as the run is in its faulty phase
// and, when by is not nil, the client by runs: the admin's operations
// that the faults interleave with.
func (w *World) repeatWhileFaulty(r *rand.Rand, meanMs float64, by *client, fn func()) {
	var next func()
	next = func() {
		if w.phase != phaseFaulty || by != nil && by.stopped {
			return
		}
		fn()
		w.schedule(w.now+1+expMs(r, meanMs), next)
	}
	w.schedule(w.now+1+expMs(r, meanMs), next)
}

// drawTopic is a topic of the workload: replicated on up to three brokers,
// with the profile's min.insync.replicas and, for their shares of topics,
// unclean elections and compaction.
func (w *World) drawTopic(name string, partitions int) topicSpec {
	return topicSpec{name: name, partitions: int32(partitions), rf: int16(min(3, len(w.nodes))), minISR: w.profile.MinISR,
		unclean: chance(w.rngWorkload, w.profile.UncleanShare), compacted: chance(w.rngWorkload, w.profile.CompactedShare),
		logAppendTime: chance(w.rngTimestamps, w.profile.LogAppendTimeShare)}
}

// stopWorkload stops new operations; those in flight finish. Group
// members go on until their groups are stable (check_liveness.go).
func (w *World) stopWorkload() {
	for _, c := range w.clients {
		if c.member == nil {
			c.stopped = true
		}
	}
}

// awaitConvergence runs until the cluster converged (converged), at most
// boundMs; a cluster that does not is a liveness violation (L1).
func (w *World) awaitConvergence(boundMs int64) bool {
	deadline := w.now + boundMs
	why := ""
	for !w.stopped {
		if why = w.converged(); why == "" {
			w.convergedAtMs = w.now
			w.timelinef("converged: every partition has a leader, every replica is in sync")
			return true
		}
		if w.now >= deadline {
			w.violation("L1", fmt.Sprintf("not converged %s after healing: %s", fmtMs(boundMs), why))
			return false
		}
		w.runUntil(w.now + 250)
	}
	return false
}

// converged says why the cluster has not converged yet, or "": every node
// runs, registered and unfenced, with the active controller's image, and
// every voter that started over from an empty metadata log (a wiped one)
// caught up, so that it votes again; every partition has a leader that
// leads it with every replica in its ISR, every log at the leader's end
// and none starting below the leader's log start (a follower learns a raised one from its next fetch answer: S12
// compares batches; seed 9100051 recovery 4 nodes, before the fence merge,
// checked a follower whose parked fetch had not yet brought the leader's
// raise past an empty prefix); no producer has a send in flight.
func (w *World) converged() string {
	ctrl := w.activeController()
	if ctrl == nil {
		return "no active controller"
	}
	img := ctrl.image
	for _, n := range w.nodes {
		switch b, ok := img.Broker(n.id); {
		case !n.up:
			return n.name() + " is down"
		case !n.replicasOn:
			return n.name() + " has not registered"
		case n.q.CatchingUp():
			return n.name() + " catches up its metadata log (a voter that started over from an empty log, which votes for no one yet)"
		case n.image.Epoch != img.Epoch:
			return fmt.Sprintf("%s applied metadata to epoch %d, the controller %d", n.name(), n.image.Epoch, img.Epoch)
		case !ok || b.Fenced:
			return n.name() + " is fenced"
		}
	}
	for t := range img.Topics() {
		for _, p := range t.Partitions {
			tp := tpKey{t.Name, p.Partition}
			if p.Leader < 0 {
				return tp.String() + " has no leader"
			}
			h := w.node(p.Leader).replicas[tp]
			if h == nil || h.core == nil || !h.core.IsLeader() || h.core.LeaderEpoch() != p.LeaderEpoch {
				return fmt.Sprintf("%s: n%d does not lead it", tp, p.Leader)
			}
			leo := h.core.LogEndOffset()
			if hw := h.core.HighWatermark(); hw != leo {
				return fmt.Sprintf("%s: high watermark %d below the log end offset %d", tp, hw, leo)
			}
			if why := txnSettled(h); why != "" {
				return why
			}
			if len(p.ISR) != len(p.Replicas) {
				return fmt.Sprintf("%s: ISR %v of replicas %v", tp, p.ISR, p.Replicas)
			}
			for _, r := range p.Replicas {
				f := w.node(r).replicas[tp]
				if f == nil || f.core == nil || f.core.LogEndOffset() != leo {
					return fmt.Sprintf("%s: replica on n%d behind the leader's end %d", tp, r, leo)
				}
				if ls := h.core.LogStartOffset(); f.core.LogStartOffset() < ls {
					return fmt.Sprintf("%s: replica on n%d starts below the leader's log start %d", tp, r, ls)
				}
			}
		}
	}
	for _, c := range w.clients {
		if c.busy {
			return c.name() + " has a send in flight"
		}
	}
	return ""
}

// finalRead reads every partition from offset 0 to its end with a fresh
// read_committed consumer (Jepsen's final polls), at most boundMs.
func (w *World) finalRead(boundMs int64) bool {
	r := w.newClient(consumerClient)
	r.final, r.readCommitted = true, true
	ends := map[tpKey]int64{}
	var keys []tpKey
	for _, n := range w.nodes {
		for _, k := range n.keys {
			if h := n.replicas[k]; k.topic != groups.OffsetsTopic && k.topic != txn.StateTopic && h.core != nil && h.core.IsLeader() {
				ends[k] = h.core.HighWatermark()
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, compareKeys)
	r.startConsumer()
	start := w.now
	deadline := start + boundMs
	for !w.stopped {
		behind := ""
		for _, k := range keys {
			if r.positions[k] < ends[k] {
				behind = fmt.Sprintf("%s at %d of %d", k, r.positions[k], ends[k])
				break
			}
		}
		if behind == "" {
			if len(keys) > 0 {
				w.timelinef("final read: %d partition%s read to the end in %s", len(keys), map[bool]string{true: "s"}[len(keys) > 1], fmtMs(w.now-start))
			}
			r.stopped = true
			return true
		}
		if w.now >= deadline {
			w.violation("L1", fmt.Sprintf("the final read did not catch up within %s: %s", fmtMs(boundMs), behind))
			return false
		}
		w.runUntil(w.now + 250)
	}
	return false
}

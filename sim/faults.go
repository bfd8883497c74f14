package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"gregor/cluster"
)

// faultInjector injects the profile's faults during the faulty phase, each
// kind on its own exponential clock, and runs the membership failure
// detector (in place of serf) for the whole run.
//
// Each kind's clock draws from a stream of its own, and each fault from a
// stream of its own (by its index in the schedule), so that a replay that
// skips some faults (Options.SkipFaults, for Shrink) draws every other
// fault at the same time with the same choices.
type faultInjector struct {
	w *World
	// partitionCuts are the links the current network partition cut.
	partitionCuts []linkKey
	// kinds counts the fault kinds armed (each has its clock); drawn
	// counts the faults drawn, injected or skipped.
	kinds, drawn int
	skip         map[int]bool
	// downMembers are the group members crashed by memberCrash whose
	// process has not started again yet.
	downMembers []*client
	// swizzling says a swizzle-clog is under way (faults_clog.go).
	swizzling bool
	// minISRSet are the topics whose min.insync.replicas the operator
	// set (faults_operator.go).
	minISRSet map[string]bool
	// brokerConfigs is what the broker-wide config fault changed
	// (broker_configs.go).
	brokerConfigs brokerConfigs
	// wiped is the node the data wipe last wiped, until it caught up
	// (data_wipe.go).
	wiped *node
	// clusterDownAt is when the cluster-down fault under way stopped
	// every node, 0 when none is under way (cluster_down.go).
	clusterDownAt int64
}

func newFaultInjector(w *World) *faultInjector {
	f := &faultInjector{w: w, skip: map[int]bool{}}
	for _, i := range w.opts.SkipFaults {
		f.skip[i] = true
	}
	return f
}

// faultRand is the randomness of one fault kind's clock (n < 0) or of the
// n-th fault of the schedule.
func faultRand(seed uint64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x6a09e667f3bcc909, uint64(int64(n))*0x9e3779b97f4a7c15+uint64(streamFaults)))
}

// start arms every fault the profile turns on, and the failure detector.
func (f *faultInjector) start() {
	p := f.w.profile
	f.every(p.CrashEveryMs, f.crash)
	f.every(p.ShutdownEveryMs, f.shutdown)
	f.every(p.PauseEveryMs, f.pause)
	f.every(p.PartitionEveryMs, f.partition)
	f.every(p.LinkFaultEveryMs, f.linkFault)
	f.every(p.ClientCutEveryMs, f.clientCut)
	f.every(p.ClockJumpEveryMs, f.clockJump)
	f.every(p.DiskFaultEveryMs, f.diskFault)
	f.every(p.StarveISREveryMs, f.starveISR)
	if len(f.w.nodes) >= 3 {
		f.every(p.EmptyStretchEveryMs, f.emptyStretch)
	}
	if p.GroupMembers > 0 {
		f.every(p.MemberCrashEveryMs, f.memberCrash)
	}
	f.every(p.ClogEveryMs, f.swizzleClog)
	f.every(p.ReassignEveryMs, f.reassign)
	f.every(p.MinISREveryMs, f.alterMinISR)
	f.every(p.UnregisterEveryMs, f.unregister)
	f.every(p.ClockDriftEveryMs, f.clockDrift)
	f.every(p.SlowDiskEveryMs, f.slowDisk)
	// Armed last: profiles without it keep their fault clocks.
	f.every(p.MetadataLagEveryMs, f.metadataLagFault)
	f.every(p.UncleanToggleEveryMs, f.toggleUnclean)
	f.every(p.BrokerConfigEveryMs, f.alterBrokerConfig)
	f.every(p.WipeEveryMs, f.wipeData)
	f.every(p.ClusterDownEveryMs, f.clusterDown)
	f.startDetector()
}

// FaultEvent is one entry of a run's fault schedule: the Index-th fault
// the injector drew (from 1), when, and what it did (its timeline lines;
// empty when it found nothing to do, e.g. no node up to crash).
type FaultEvent struct {
	Index int    `json:"i"`
	AtMs  int64  `json:"t"`
	What  string `json:"what"`
}

// String prints the fault on one line.
func (e FaultEvent) String() string {
	what := e.What
	if what == "" {
		what = "(nothing to do)"
	}
	return fmt.Sprintf("#%d at %s: %s", e.Index, fmtMs(e.AtMs), what)
}

// every runs fault at exponential intervals of mean meanMs while the run
// is in its faulty phase, until the schedule is cut (Options.LimitFaults).
func (f *faultInjector) every(meanMs float64, fault func(r *rand.Rand)) {
	if meanMs <= 0 {
		return
	}
	w := f.w
	f.kinds++
	clock := faultRand(w.opts.Seed, -f.kinds)
	var next func()
	next = func() {
		if w.phase != phaseFaulty || (w.opts.LimitFaults && f.drawn >= w.opts.MaxFaults) {
			return
		}
		f.inject(fault)
		w.schedule(w.now+1+expMs(clock, meanMs), next)
	}
	w.schedule(w.now+1+expMs(clock, meanMs), next)
}

// inject runs the next fault of the schedule and logs it, unless the run
// skips it.
func (f *faultInjector) inject(fault func(r *rand.Rand)) {
	w := f.w
	f.drawn++
	if f.skip[f.drawn] {
		w.tracef("fault #%d skipped", f.drawn)
		return
	}
	w.faultLog = append(w.faultLog, FaultEvent{Index: f.drawn, AtMs: w.now})
	w.injecting = &w.faultLog[len(w.faultLog)-1]
	defer func() { w.injecting = nil }()
	fault(faultRand(w.opts.Seed, f.drawn))
}

// pick draws one of the nodes that satisfy ok, or nil.
func (f *faultInjector) pick(r *rand.Rand, ok func(*node) bool) *node {
	var cands []*node
	for _, n := range f.w.nodes {
		if ok(n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[r.IntN(len(cands))]
}

func (f *faultInjector) crash(r *rand.Rand) {
	w := f.w
	n := f.pick(r, func(n *node) bool { return n.up && !w.stretchHolds(n) })
	if n == nil {
		return
	}
	power := chance(r, w.profile.PowerLossShare)
	w.crash(n, power, "")
	w.schedule(w.now+200+expMs(r, w.profile.DownForMs), func() {
		if w.phase == phaseFaulty {
			w.restart(n)
		}
	})
}

// shutdown stops a node gracefully (a controlled shutdown) and starts it
// again later.
func (f *faultInjector) shutdown(r *rand.Rand) {
	w := f.w
	n := f.pick(r, func(n *node) bool { return n.up && !n.paused && n.shutdownDone == nil && !w.stretchHolds(n) })
	if n == nil {
		return
	}
	downMs := 1000 + expMs(r, max(w.profile.DownForMs, 1000))
	w.controlledShutdown(n, func() {
		if w.phase != phaseFaulty {
			// Healing began while it shut down.
			w.schedule(w.now, func() { w.restart(n) })
			return
		}
		w.schedule(w.now+downMs, func() {
			if w.phase == phaseFaulty {
				w.restart(n)
			}
		})
	})
}

func (f *faultInjector) pause(r *rand.Rand) {
	w := f.w
	n := f.pick(r, func(n *node) bool { return n.up && !n.paused && !w.stretchHolds(n) })
	if n == nil {
		return
	}
	if chance(r, pauseClosedConnsP) {
		w.timelinef("fault: %s's connections to the voters close (a request timed out), then it pauses", n.name())
		n.announceConnsClosed()
	}
	w.pause(n)
	inc := n.inc
	w.schedule(w.now+100+expMs(r, w.profile.PauseForMs), func() {
		if n.inc == inc {
			w.resume(n)
		}
	})
}

// partition cuts the brokers' network in one of four shapes, and heals it
// later. One partition at a time.
func (f *faultInjector) partition(r *rand.Rand) {
	w := f.w
	if len(f.partitionCuts) > 0 || len(w.nodes) < 2 {
		return
	}
	ids := make([]int32, len(w.nodes))
	for i, n := range w.nodes {
		ids[i] = n.id
	}
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	var desc string
	switch shape := r.IntN(4); {
	case shape == 0: // one node isolated
		desc = f.cutGroups([][]int32{ids[:1], ids[1:]})
	case shape == 1: // a clean split
		k := 1 + r.IntN(len(ids)-1)
		desc = f.cutGroups([][]int32{ids[:k], ids[k:]})
	case shape == 2 || len(ids) < 3: // one-way cuts
		var parts []string
		for i := 0; i < 1+r.IntN(len(ids)); i++ {
			a, b := ids[r.IntN(len(ids))], ids[r.IntN(len(ids))]
			if a != b && !w.net.cut[linkKey{a, b}] {
				f.cut(linkKey{a, b})
				parts = append(parts, linkKey{a, b}.String())
			}
		}
		desc = "one-way " + strings.Join(parts, " ")
	default: // a bridge: two sides that reach each other only through one node
		k := 1 + r.IntN(len(ids)-2)
		left, right := ids[1:1+k], ids[1+k:]
		for _, a := range left {
			for _, b := range right {
				f.cut(linkKey{a, b})
				f.cut(linkKey{b, a})
			}
		}
		desc = fmt.Sprintf("bridge %s | %s | %s", idList(left), endpointName(ids[0]), idList(right))
	}
	if len(f.partitionCuts) == 0 {
		return
	}
	w.stats.Partitions++
	w.timelinef("fault: partition %s", desc)
	w.rec.begin(w.now, "partition", "network", desc)
	w.schedule(w.now+500+expMs(r, w.profile.PartitionForMs), f.healPartition)
}

// cutGroups cuts every link between nodes of different groups.
func (f *faultInjector) cutGroups(groups [][]int32) string {
	var parts []string
	for i, g := range groups {
		parts = append(parts, idList(g))
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					f.cut(linkKey{a, b})
				}
			}
		}
	}
	return strings.Join(parts, " | ")
}

func (f *faultInjector) cut(k linkKey) {
	if f.w.net.cut[k] {
		return
	}
	f.w.net.cut[k] = true
	f.partitionCuts = append(f.partitionCuts, k)
}

func (f *faultInjector) healPartition() {
	w := f.w
	if len(f.partitionCuts) == 0 {
		return
	}
	for _, k := range f.partitionCuts {
		delete(w.net.cut, k)
	}
	f.partitionCuts = nil
	w.timelinef("fault: partition healed")
	w.rec.end(w.now, "partition", "network")
}

func idList(ids []int32) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	var parts []string
	for _, id := range s {
		parts = append(parts, endpointName(id))
	}
	return strings.Join(parts, ",")
}

// linkFault degrades one directed link between brokers for a while.
func (f *faultInjector) linkFault(r *rand.Rand) {
	w := f.w
	if len(w.nodes) < 2 {
		return
	}
	a := w.nodes[r.IntN(len(w.nodes))].id
	b := w.nodes[r.IntN(len(w.nodes))].id
	if a == b {
		return
	}
	k := linkKey{a, b}
	lf := &linkFaults{dropP: 0.1 + 0.4*r.Float64(), dupP: 0.2 * r.Float64(), extraDelayMs: 50 * r.Float64()}
	w.net.degraded[k] = lf
	w.stats.LinkFaults++
	w.timelinef("fault: link %s loses %.0f%%, duplicates %.0f%%, delays +%.0fms", k, 100*lf.dropP, 100*lf.dupP, lf.extraDelayMs)
	w.rec.begin(w.now, "link", k.String(), fmt.Sprintf("loses %.0f%%, duplicates %.0f%%, delays +%.0fms", 100*lf.dropP, 100*lf.dupP, lf.extraDelayMs))
	w.schedule(w.now+500+expMs(r, 5000), func() {
		if w.net.degraded[k] == lf {
			delete(w.net.degraded, k)
			w.tracef("fault: link %s restored", k)
			w.rec.end(w.now, "link", k.String())
		}
	})
}

// clientCut cuts a client off one broker (both ways) for a while.
func (f *faultInjector) clientCut(r *rand.Rand) {
	w := f.w
	if len(w.clients) == 0 {
		return
	}
	c := w.clients[r.IntN(len(w.clients))]
	n := w.nodes[r.IntN(len(w.nodes))]
	ks := []linkKey{{c.id, n.id}, {n.id, c.id}}
	if w.net.cut[ks[0]] {
		return
	}
	for _, k := range ks {
		w.net.cut[k] = true
	}
	w.timelinef("fault: %s cut off %s", c.name(), n.name())
	w.rec.begin(w.now, "client-cut", c.name()+"-"+n.name(), c.name()+" cut off "+n.name())
	w.schedule(w.now+500+expMs(r, 5000), func() {
		for _, k := range ks {
			delete(w.net.cut, k)
		}
		w.rec.end(w.now, "client-cut", c.name()+"-"+n.name())
		w.tracef("fault: %s reaches %s again", c.name(), n.name())
	})
}

// memberCrash crashes a group member's process between polls, as the
// B21 scenario does: what its application held is never processed, and it
// commits nothing more. An auto-committing member crashes at the first
// moment, within 5 s, its application holds records an acknowledged
// commit was sent after (the crash that tells the positions of the poll
// before from those of the last poll; at the end of the 5 s, whatever it
// holds). The process starts again after a while (at the latest when the
// faults heal) as a new member of the same group, with the same protocol
// and auto-commit; the group's coordinator drops the old member when its
// session times out.
func (f *faultInjector) memberCrash(r *rand.Rand) {
	w := f.w
	var members []*client
	for _, c := range w.clients {
		if c.member != nil && !c.crashed && c.prod == nil && !slices.Contains(f.downMembers, c) {
			members = append(members, c)
		}
	}
	if len(members) == 0 {
		return
	}
	c := members[r.IntN(len(members))]
	f.downMembers = append(f.downMembers, c) // from now on: not picked again, started again at heal
	restartMs := 500 + expMs(r, 3000)
	deadline := w.now + 5000
	var try func()
	try = func() {
		if c.crashed || !slices.Contains(f.downMembers, c) {
			return // healed before it crashed
		}
		if app := c.member.app; app != nil && w.now < deadline && w.phase == phaseFaulty {
			held := false
			for _, b := range app.inApp {
				held = held || app.lastCommitSentMs >= b.sinceMs
			}
			if !held {
				w.schedule(w.now+20, try)
				return
			}
		}
		c.crash()
		w.stats.MemberCrashes++
		w.timelinef("client: %s (a member of %s) crashed between polls", c.name(), c.member.group)
		w.schedule(w.now+restartMs, func() { f.restartMember(c) })
	}
	// The fault's own line, in the schedule's entry (the crash itself
	// may come later).
	w.timelinef("fault: %s (a member of %s) to crash between polls", c.name(), c.member.group)
	try()
}

// restartMember starts a crashed member's process again as a new member,
// unless it started already.
func (f *faultInjector) restartMember(old *client) {
	w := f.w
	i := slices.Index(f.downMembers, old)
	if i < 0 {
		return
	}
	f.downMembers = slices.Delete(f.downMembers, i, i+1)
	if !old.crashed {
		return // healed before it crashed
	}
	c := w.newClient(groupClient)
	c.startGroupMember(old.member.group, old.member.classic)
	if old.member.app != nil {
		c.member.app = newAppState(old.member.app.processMs)
	}
	w.timelinef("client: %s starts again as %s in %s", old.name(), c.name(), c.member.group)
}

// clockJump moves a node's wall clock by up to an hour either way.
func (f *faultInjector) clockJump(r *rand.Rand) {
	w := f.w
	n := w.nodes[r.IntN(len(w.nodes))]
	w.jumpClock(n, r.Int64N(2*3_600_000)-3_600_000)
}

// jumpClock moves n's wall clock by deltaMs (its monotonic clock runs on).
func (w *World) jumpClock(n *node, deltaMs int64) {
	n.clock.wallOffsetMs += deltaMs
	w.stats.ClockJumps++
	w.timelinef("fault: %s wall clock jumps %+ds", n.name(), deltaMs/1000)
	w.rec.span(w.now, w.now, "clock", n.name(), fmt.Sprintf("wall clock jumps %+ds", deltaMs/1000))
}

// starveISR cuts the replication links from a partition's followers to
// its leader (their fetches are lost; every broker still reaches the
// controller) until the leader has dropped them from the ISR, then crashes
// the leader: the shape of CORRECTNESS.md B1 and B6.
func (f *faultInjector) starveISR(r *rand.Rand) {
	w := f.w
	ctrl := w.activeController()
	if ctrl == nil {
		return
	}
	var cands []cluster.PartitionImage
	var names []string
	for t := range ctrl.image.Topics() {
		for _, p := range t.Partitions {
			if p.Leader >= 0 && len(p.ISR) > 1 {
				cands = append(cands, p)
				names = append(names, t.Name)
			}
		}
	}
	if len(cands) == 0 {
		return
	}
	i := r.IntN(len(cands))
	p, tp := cands[i], tpKey{names[i], cands[i].Partition}
	var cut []linkKey
	var names2 []string
	for _, r := range p.Replicas {
		if k := (linkKey{r, p.Leader}); r != p.Leader && !w.net.dataCut[k] {
			w.net.dataCut[k] = true
			cut = append(cut, k)
			names2 = append(names2, k.String())
		}
	}
	if len(cut) == 0 {
		return
	}
	w.stats.Partitions++
	w.timelinef("fault: %s's followers cannot fetch from its leader n%d (replication links %s cut)", tp, p.Leader, strings.Join(names2, " "))
	w.rec.begin(w.now, "starve", tp.String(), fmt.Sprintf("followers cannot fetch from n%d", p.Leader))
	leader := w.node(p.Leader)
	w.schedule(w.now+w.timing.replicaLagMaxMs+2000+expMs(r, 3000), func() {
		for _, k := range cut {
			delete(w.net.dataCut, k)
		}
		w.rec.end(w.now, "starve", tp.String())
		if w.phase != phaseFaulty {
			return
		}
		w.crash(leader, chance(r, w.profile.PowerLossShare), "")
		w.schedule(w.now+200+expMs(r, max(w.profile.DownForMs, 3000)), func() {
			if w.phase == phaseFaulty {
				w.restart(leader)
			}
		})
	})
}

// diskFault makes a node's writes and fsyncs fail for a while: with EIO
// (each with probability DiskFaultP), or with ENOSPC (the disk is full:
// the node's only disk, or, as often, the disk of its log.dirs alone, the
// metadata log on a disk of its own).
func (f *faultInjector) diskFault(r *rand.Rand) {
	w := f.w
	n := w.nodes[r.IntN(len(w.nodes))]
	until := w.now + 1 + expMs(r, w.profile.DiskFaultForMs)
	if r.IntN(2) == 0 {
		spare := int64(r.IntN(4096))
		if r.IntN(2) == 0 {
			w.dataDiskFull(n, until)
			return
		}
		w.diskFull(n, spare, until)
		return
	}
	w.diskFails(n, w.profile.DiskFaultP, until, w.profile.DiskFaultAllOps)
}

// diskFull fills n's disk, but for spare bytes, until the time until.
func (w *World) diskFull(n *node, spare, until int64) {
	w.stats.DiskFaults++
	n.fs.SetSpaceLimit(n.fs.UsedBytes() + spare)
	w.timelinef("fault: %s disk full until %s", n.name(), fmtMs(until))
	w.rec.span(w.now, until, "disk", n.name(), "disk full")
	w.schedule(until, func() { n.fs.SetSpaceLimit(-1) })
}

// dataDiskFull fills the disk of n's log.dirs until the time until; its
// metadata log, on a disk of its own (metadata.log.dir), is written on.
func (w *World) dataDiskFull(n *node, until int64) {
	w.stats.DiskFaults++
	n.dataDiskFullUntilMs = max(n.dataDiskFullUntilMs, until)
	w.timelinef("fault: %s data disk full until %s", n.name(), fmtMs(until))
	w.rec.span(w.now, until, "disk", n.name(), "data disk full")
}

// diskFails makes n's writes and fsyncs (with allOps, all its disk
// operations) fail with EIO, each with probability p, until the time
// until.
func (w *World) diskFails(n *node, p float64, until int64, allOps bool) {
	w.stats.DiskFaults++
	n.diskFaultUntilMs, n.diskFaultP, n.diskFaultAllOps = until, p, allOps
	what := "writes and fsyncs"
	if allOps {
		what = "operations"
	}
	w.timelinef("fault: %s disk fails %.0f%% of %s until %s", n.name(), 100*n.diskFaultP, what, fmtMs(until))
	w.rec.span(w.now, until, "disk", n.name(), fmt.Sprintf("disk fails %.0f%% of %s", 100*n.diskFaultP, what))
}

// startDetector runs the membership failure detector: every second the
// active controller may hear that a broker failed. Of a broker it cannot
// reach (down, paused, cut off) it hears with probability DetectP; of one it
// can, with FalseSuspicionP (only while faults are on). The controller
// takes it as a hint (BrokerFailed), which fences a broker before its
// session ends only once its connections closed too (conns_closed.go).
func (f *faultInjector) startDetector() {
	w := f.w
	var tick func()
	tick = func() {
		w.schedule(w.now+1000, tick)
		var ctrl *node
		for _, n := range w.nodes {
			if n.up && !n.paused && n.ctrl != nil && n.ctrl.Active() {
				ctrl = n
				break
			}
		}
		if ctrl == nil {
			return
		}
		for _, b := range w.nodes {
			if b == ctrl {
				continue
			}
			unreachable := !b.up || b.paused || w.net.cut[linkKey{ctrl.id, b.id}] || w.net.cut[linkKey{b.id, ctrl.id}]
			detect := unreachable && chance(w.rngMembership, w.profile.DetectP)
			falsely := !unreachable && w.phase == phaseFaulty && chance(w.rngMembership, w.profile.FalseSuspicionP)
			if !detect && !falsely {
				continue
			}
			if falsely {
				w.stats.FalseSuspicions++
			} else {
				w.stats.Suspicions++
			}
			id := b.id
			ctrl.at(w.now, func() {
				if ctrl.ctrl.Active() {
					w.tracef("membership: %s suspects %s (false=%t)", ctrl.name(), endpointName(id), falsely)
					ctrl.ctrl.BrokerFailed(id, ctrl.instant())
					ctrl.settle()
				}
			})
		}
	}
	w.schedule(w.now+1000, tick)
}

// heal ends every fault: partitions and cuts heal, links recover, paused
// nodes continue, disks work, and crashed nodes (and nodes that saw an I/O
// error, which may have failed more than their replicas' logs) restart, and
// so do crashed group members; clogged nodes deliver what they held, and
// the operator sets the min.insync.replicas it changed back. A node whose
// disk was only full is not restarted: its offline replicas start again
// by themselves once their backoff ends (cluster.OfflineReplicas).
func (w *World) heal() {
	w.phase = phaseHealing
	clear(w.net.cut)
	clear(w.net.dataCut)
	clear(w.net.degraded)
	w.faults.partitionCuts = nil
	w.endMetadataLags()
	w.net.dropP, w.net.dupP = 0, 0
	w.timelinef("heal: faults stop, the network heals, every node runs")
	w.rec.endAll(w.now, "partition", "link", "client-cut", "starve", "clog")
	for len(w.faults.downMembers) > 0 {
		w.faults.restartMember(w.faults.downMembers[0])
	}
	for _, n := range w.nodes {
		n.diskFaultUntilMs, n.slowDiskUntilMs, n.dataDiskFullUntilMs = 0, 0, 0
		n.fs.SetSpaceLimit(-1)
		if n.paused {
			w.resume(n)
		}
		if n.diskErrorSeen {
			w.crash(n, false, "restarted to bring its failed logs back")
		}
		w.restart(n)
	}
	// After the restarts: what a clog held for a process that restarted
	// is lost with its connection.
	w.faults.unclogAll()
	w.faults.restoreMinISR()
	w.faults.restoreBrokerMinISR()
}

package sim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path"
	"slices"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// The data wipe (Profile.WipeEveryMs; the wipe profile): a node's process
// crashes (half of the time with a power loss: the disk is replaced) and
// the node starts again with an empty data directory, all of it: the metadata log (and a voter's catch-up marker), every partition
// log, the checkpoints and the broker's shutdown marker, as when an
// operator empties the directory or a disk is replaced. The node starts
// over as a new member would under the same node id:
//
//   - its metadata log is empty: a voter catches up before it votes again,
//     and the leader that knew it hands its leadership on
//     (cluster/quorum/catch_up.go, lost_log.go); a learner is sent a
//     snapshot;
//   - with no shutdown marker, its registration says it stopped uncleanly
//     (KIP-966): the controller takes it out of every ISR and ELR, so it
//     leads nothing until it fetched back into an ISR;
//   - its replicas fetch every partition from the leaders' log starts.
//
// One node at a time: no other wipe until the wiped node runs again, has
// caught up its metadata log and is back in the ISR of every partition
// the active controller gives it (wipeCatchingUp); and only a node
// without which the other voters that can vote (up, not paused, not
// catching up) still form a majority of the quorum. The checkers take the
// wipe as a power loss that dropped every offset the node held (D2): an
// acknowledged acks=all write may be lost only where min.insync.replicas
// replicas lost it.

// wipeData is the fault: it wipes a node, if one may be, and starts it
// again later.
func (f *faultInjector) wipeData(r *rand.Rand) {
	w := f.w
	if n := f.wiped; n != nil {
		if why := w.wipeCatchingUp(n); why != "" {
			w.timelinef("fault: no data wipe while %s", why)
			return
		}
		f.wiped = nil
	}
	n := f.pick(r, func(n *node) bool { return n.up && !w.stretchHolds(n) && w.quorumWithout(n) })
	if n == nil {
		return
	}
	f.wiped = n
	w.wipe(n, chance(r, 0.5))
	w.schedule(w.now+200+expMs(r, w.profile.DownForMs), func() {
		if w.phase == phaseFaulty {
			w.restart(n)
		}
	})
}

// quorumWithout says whether the voters other than n that can vote (up,
// not paused, not catching up) form a majority of the quorum.
func (w *World) quorumWithout(n *node) bool {
	votes := 0
	for _, id := range w.voters {
		if v := w.node(id); v != n && v.up && !v.paused && v.q != nil && !v.q.CatchingUp() {
			votes++
		}
	}
	return votes > len(w.voters)/2
}

// wipeCatchingUp says why the wiped node n has not caught up yet, or "":
// it runs, registered, its metadata log caught up (a voter's catch-up
// over), and it is in the ISR of every partition the active controller's
// image gives it.
func (w *World) wipeCatchingUp(n *node) string {
	ctrl := w.activeController()
	switch {
	case !n.up:
		return n.name() + ", wiped, is down"
	case n.q.CatchingUp():
		return n.name() + ", wiped, catches up its metadata log"
	case !n.replicasOn:
		return n.name() + ", wiped, has not registered"
	case ctrl == nil:
		return "no controller is active"
	}
	for t := range ctrl.image.Topics() {
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, n.id) && !slices.Contains(p.ISR, n.id) {
				return fmt.Sprintf("%s, wiped, is not in the ISR %v of %s/%d", n.name(), p.ISR, t.Name, p.Partition)
			}
		}
	}
	return ""
}

// wipe crashes n's process (with power, in a power loss) and empties its
// data directory: n gets a new, empty disk. With the plant
// wipe-keeps-marker, the broker's shutdown marker is kept (it counts only
// after a process crash: a power loss reboots the machine, and a running
// marker of another boot counts for nothing).
func (w *World) wipe(n *node, power bool) {
	w.crash(n, power, "its data directory is wiped")
	old := n.fs
	n.wipes++
	n.fs = vfs.NewMem(vfs.WithTornWrites(w.opts.Seed ^ uint64(n.id)*0x2545f4914f6cdd1d ^ uint64(n.wipes)*0x9e3779b97f4a7c15))
	_ = n.fs.MkdirAll(dataDir, 0o755)
	_ = n.fs.SyncDir("/")
	n.fs.SetErrorHook(n.diskHook)
	if w.opts.Plant == PlantWipeKeepsMarker {
		marker := path.Join(dataDir, logstore.BrokerShutdownFile)
		if p, err := logstore.ReadWholeFile(old, marker, 1<<10); err == nil {
			_ = vfs.WriteFileAtomic(n.fs, marker, p)
		}
	}
	ends := maps.Clone(n.diskEnd)
	for k, end := range n.preCrashEnd {
		ends[k] = max(ends[k], end)
	}
	for _, k := range slices.SortedFunc(maps.Keys(ends), compareKeys) {
		if ends[k] > 0 {
			w.checks.dataWiped(k, n.id, ends[k])
		}
	}
	w.checks.nodeWiped(n.id)
	clear(n.diskEnd)
	clear(n.preCrashEnd)
	clear(n.syncedAtPowerLoss)
	n.closedShadows, n.leftDirs, n.checkpointed = nil, nil, nil
	w.stats.DataWipes++
	if w.isVoter(n.id) {
		w.stats.VoterDataWipes++
	}
	w.timelinef("fault: %s's data directory wiped (metadata log, partition logs, checkpoints, shutdown marker)", n.name())
}

// dataWiped records that a wipe of node's data directory took the offsets
// below end of tp: for the checks, what a power loss dropped from that
// replica (D2).
func (c *serverChecks) dataWiped(tp tpKey, node int32, end int64) {
	c.dropped[tp] = append(c.dropped[tp], offsetRange{node: node, from: 0, to: end, wiped: true})
	c.w.lossEra[tp]++
	c.w.tracef("n%d: %s lost [0, %d) to the wipe of its data directory", node, tp, end)
}

// nodeWiped forgets what the checks knew of a wiped node's memory: it
// starts over from quorum epoch 0 and from no partition's leader epoch.
// It lost everything, as a power loss loses what was not synced
// (powerLost): it may lead a partition only from the ISR it joins again.
func (c *serverChecks) nodeWiped(node int32) {
	delete(c.raftTerms, node)
	maps.DeleteFunc(c.replicaEpochs, func(k nodeTP, _ int32) bool { return k.node == node })
	c.powerLost(node)
	c.wipedMs[node] = c.w.now
}

package sim

import "gregor/cluster"

// A slow leader append. In production a partition leader's actor appends a
// produce's batches on its own goroutine, in its Receive: while the write
// takes its time, everything else for the partition (produces, fetch
// reads, follower positions, ticks, metadata changes, transaction
// verifications, markers, OffsetForLeaderEpoch) waits in the actor's
// mailbox and is taken in order once the append completed. Even a Fetch
// its fetch view would answer goes through the mailbox then: the view is
// read only while no message waits or is being handled
// (actors/fetch_board.go's currentView); a parked Fetch still registers
// against the view last published. With the profile's SlowLeaderAppends,
// while a node's disk is slow (slow_disk.go) a leader's Ready that appends
// is carried out a drawn time later (exponential, of mean
// Profile.SlowDiskMs, after what the disk is still writing, from a stream
// of its own), and until then the replica is busy: every input goes to its
// mailbox (replicaHost.deliver; fetch reads and OffsetForLeaderEpoch
// partitions too, node_fetch.go and node_broker.go), its ticks wait, and a
// crash or a stop drops the append and the mailbox (a stop answers what
// waits, as it does).

// slowLeaderAppend says whether a slow disk holds a leader's Ready that
// appends, and until when.
func (h *replicaHost) slowLeaderAppend(rd *cluster.Ready) (atMs int64, slow bool) {
	n := h.n
	w := n.w
	if !w.profile.SlowLeaderAppends || len(rd.Appends) == 0 || w.now >= n.slowDiskUntilMs || !h.core.IsLeader() {
		return 0, false
	}
	at := max(w.now, n.diskBusyUntilMs) + 1 + expMs(w.rngSlowLeader, n.slowDiskMeanMs)
	n.diskBusyUntilMs = at
	took := at - w.now
	w.stats.SlowLeaderAppends++
	w.stats.SlowLeaderAppendMaxMs = max(w.stats.SlowLeaderAppendMaxMs, took)
	w.tracef("%s %s: slow disk: the leader's append of %d produces completes in %dms", n.name(), h.key, len(rd.Appends), took)
	return at, true
}

// holdFor keeps the replica busy until atMs, then carries out rd and what
// waited meanwhile.
func (h *replicaHost) holdFor(atMs int64, rd *cluster.Ready) {
	h.busy, h.deadlineMs = true, never
	h.n.at(atMs, func() {
		if h.n.replicas[h.key] != h || h.core == nil {
			return
		}
		h.busy = false
		h.perform(rd)
		h.route(rd)
		if rd.Fatal != nil {
			h.goOffline(rd.Fatal)
			return
		}
		h.carryOut()
		h.nextFromMailbox()
	})
}

// deliver hands an input to the replica's core now, or after the append
// that holds it and the inputs that waited before it.
func (h *replicaHost) deliver(fn func()) {
	if h.busy {
		h.n.w.stats.SlowLeaderInputsHeld++
		h.mailbox = append(h.mailbox, fn)
		return
	}
	fn()
}

// nextFromMailbox takes the next input that waited, as an event of its
// own, as the actor takes one message at a time: the checks run after each
// (an S3 check after two inputs, a high watermark advance then an ISR
// shrink, saw the advance under the shrunk ISR). The replica stays busy
// for new inputs until its mailbox is empty, or until one holds it again.
func (h *replicaHost) nextFromMailbox() {
	if h.busy || len(h.mailbox) == 0 {
		return
	}
	h.busy, h.deadlineMs = true, never
	h.n.at(h.n.w.now, func() {
		if h.n.replicas[h.key] != h || h.core == nil {
			h.mailbox = nil
			return
		}
		h.busy = false
		fn := h.mailbox[0]
		h.mailbox = h.mailbox[1:]
		fn()
		if h.n.replicas[h.key] != h || h.core == nil {
			h.mailbox = nil
			return
		}
		if !h.busy {
			h.deadlineMs = h.core.NextDeadlineMs()
		}
		h.nextFromMailbox()
	})
}

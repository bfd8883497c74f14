package actors

// How a parked Fetch waits and wakes: the partitions' fetch boards (or a
// watch in the actor of a partition without one), the wake-ups, the
// deadline, and the answers a stopping node gives its parked Fetches.

import "gregor/cluster"

// park parks a watch for each partition the core asks: on the partition's
// fetch board, or, for a partition without one, in its actor. A board whose
// view wakes the Fetch already wakes it at once.
func (st *fetchShell) park(watches []cluster.FetchWatch) {
	wakeNow := false
	for _, w := range watches {
		t := st.targets[w.Index]
		if t.board != nil {
			st.boarded.Store(true)
			part := fetchPartitionOf(&t.request)
			if t.board.register(boardKey{st: st, index: w.Index}, boardWait{part: part, isolation: st.isolation, wakesAbove: w.WakesAbove(part.FetchOffset)}) {
				wakeNow = true
			}
			continue
		}
		msg := &watchPartition{fetch: t.request, deadlineMs: w.DeadlineMs, readOnWake: w.ReadOnWake, waitPast: w.WaitPast, fetcher: st.fetcher, notify: st.wake}
		if w.ReadOnWake {
			msg.fetch.reply = func(res fetchPartitionResult) { st.wokenWithRead(w.Index, res) }
		}
		st.r.node.system.Root.Send(t.pid, msg)
	}
	if len(watches) > 0 && st.boarded.Load() {
		// A wake-up on another goroutine may have answered the Fetch
		// while this one was still parking it.
		st.mu.Lock()
		answered := st.core.Answered()
		st.mu.Unlock()
		if answered {
			st.leaveBoards()
		}
	}
	if wakeNow {
		st.wake()
	}
}

// leaveBoards takes an answered Fetch off the fetch boards it parked on.
func (st *fetchShell) leaveBoards() {
	if !st.boarded.Load() {
		return
	}
	for i, t := range st.targets {
		if t.board != nil {
			t.board.unregister(boardKey{st: st, index: i})
		}
	}
}

// wokenWithRead takes the read a partition actor did when new records woke
// the watch of a single-partition fetch, in place of a wake and a re-read.
func (st *fetchShell) wokenWithRead(index int, res fetchPartitionResult) {
	results := make([]fetchPartitionResult, len(st.targets))
	results[index] = res
	st.step(func(f *cluster.Fetch, now cluster.Instant) { f.WokenWithRead(index, partitionRead(res), now) }, results)
}

// wake runs on new data in a watched partition (or its stop).
func (st *fetchShell) wake() { st.step(func(f *cluster.Fetch, _ cluster.Instant) { f.Woken() }, nil) }

// tick runs at the deadline.
func (st *fetchShell) tick() {
	st.step(func(f *cluster.Fetch, now cluster.Instant) { f.Tick(now) }, nil)
}

// wakeParkedFetches answers every waiting fetch now (graceful shutdown).
func (r *router) wakeParkedFetches() {
	r.parked.Range(func(k, _ any) bool {
		k.(*fetchShell).step(func(f *cluster.Fetch, _ cluster.Instant) { f.StopWaiting() }, nil)
		return true
	})
}

package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// The emptied-stretch fault (Profile.EmptyStretchEveryMs): the one
// sequence of events that leaves a leader's log ending in a stretch that
// holds no batch while a follower lags inside it (cluster's emptyStretch,
// emptyPrefixEnd). Random faults almost never line it up (no seed of 750
// of the compaction profile did): compaction removes only records that
// committed records supersede, so a log ends in an emptied stretch only
// after a truncation cut off the superseding records, which takes a loss
// of committed records (here an unclean election), and the path is
// reached only if that replica then leads, and a follower fetches inside
// the stretch, before anything is appended after it.
//
// It plays on the partition of stretchTopic (compacted, min.insync.replicas
// 1, unclean election on, replicas A the leader, B and C):
//
//  1. C's replication links are cut (it stops fetching, at offset c0);
//     a second or two later B's link to A is cut too (B stops at b0);
//  2. A alone takes writes until its compaction removed every batch of
//     [c0, b0) (superseded by records past b0);
//  3. the producers stop writing to the topic (stretchQuiet) and the sends
//     in flight end;
//  4. A crashes and B is elected uncleanly; A restarts and truncates to
//     b0: its log now ends in the stretch, and A rejoins the ISR;
//  5. B shuts down (controlled): A leads again;
//  6. C's links heal: C fetches at c0, inside the stretch, and must reach
//     A's log end (the empty batches), then writes resume and B restarts.
//
// Any step that does not come within its bound (other faults interfere)
// ends the attempt: cuts heal, writes resume, what it stopped restarts.

const (
	// stretchTopic is the topic the emptied-stretch fault plays on.
	stretchTopic = "es"
	// stretchPollMs is how often the fault looks at the cluster, and
	// stretchStepBoundMs how long it waits for each step.
	stretchPollMs      = 100
	stretchStepBoundMs = 40_000
)

// stretchRun is one attempt of the emptied-stretch fault.
type stretchRun struct {
	w       *World
	tp      tpKey
	a, b, c *node
	// c0 and b0 are where C and B stopped.
	c0, b0 int64
	cuts   []linkKey
	// crashed is the node the attempt crashed and must bring back (B, shut
	// down, comes back by itself).
	crashed  []*node
	step     string
	deadline int64
	// prefix: the attempt of the emptied-prefix variant
	// (empty_prefix_fault.go).
	prefix bool
}

// stretchTopicSpec is the topic the fault needs.
func stretchTopicSpec() topicSpec {
	return topicSpec{name: stretchTopic, partitions: 1, rf: 3, minISR: 1, unclean: true, compacted: true}
}

// emptyStretch starts an attempt unless one runs: the partition of
// stretchTopic must have all three replicas in its ISR, on nodes that run.
func (f *faultInjector) emptyStretch(r *rand.Rand) {
	w := f.w
	if w.stretch != nil {
		return
	}
	ctrl := w.activeController()
	if ctrl == nil {
		return
	}
	t, ok := ctrl.image.Topic(stretchTopic)
	if !ok || len(t.Partitions) == 0 {
		return
	}
	p := t.Partitions[0]
	if p.Leader < 0 || len(p.Replicas) != 3 || len(p.ISR) != 3 {
		return
	}
	s := &stretchRun{w: w, tp: tpKey{stretchTopic, 0}, a: w.node(p.Leader)}
	// An unclean election takes the first live replica in the assignment's
	// order: that one is B.
	for _, id := range p.Replicas {
		switch {
		case id == p.Leader:
		case s.b == nil:
			s.b = w.node(id)
		default:
			s.c = w.node(id)
		}
	}
	for _, n := range []*node{s.a, s.b, s.c} {
		if !n.up || n.paused {
			return
		}
	}
	w.stretch = s
	s.cut(linkKey{s.c.id, s.a.id}, linkKey{s.c.id, s.b.id})
	s.prefix = w.endStretchPrefix()
	// (Named, not taken from s.cuts: another fault may have cut one
	// already, which s.cuts leaves out; seed 6350000 of the mixed profile
	// panicked here.)
	w.timelinef("fault: emptied stretch on %s: follower %s stops fetching (replication links %s, %s cut)", s.tp, s.c.name(),
		linkKey{s.c.id, s.a.id}, linkKey{s.c.id, s.b.id})
	w.rec.begin(w.now, "starve", s.tp.String(), "emptied stretch: "+s.c.name()+" lags")
	// B stops a little later, so that it holds records C lacks
	// (cutB waits for them).
	w.schedule(w.now+1000+expMs(r, 1000), func() { s.cutB(w.now + s.cutBWaitMs()) })
}

// stretchHolds says n is one of the replicas an emptied-stretch attempt
// plays with: the crash, shutdown and pause faults leave them alone
// meanwhile, or almost no attempt would play out.
func (w *World) stretchHolds(n *node) bool {
	s := w.stretch
	return s != nil && (n == s.a || n == s.b || n == s.c)
}

// cut cuts replication links for the attempt.
func (s *stretchRun) cut(links ...linkKey) {
	for _, k := range links {
		if !s.w.net.dataCut[k] {
			s.w.net.dataCut[k] = true
			s.cuts = append(s.cuts, k)
		}
	}
}

// wait polls cond until it holds (it then does the next step itself) or
// the step's bound passes (the attempt ends).
func (s *stretchRun) wait(step string, cond func() bool) {
	s.step, s.deadline = step, s.w.now+stretchStepBoundMs
	var poll func()
	poll = func() {
		w := s.w
		if w.stretch != s {
			return
		}
		if w.phase != phaseFaulty {
			s.end("the faults stopped")
			return
		}
		if cond() {
			return
		}
		if w.now >= s.deadline {
			s.end("timed out waiting for " + s.step)
			return
		}
		w.schedule(w.now+stretchPollMs, poll)
	}
	s.w.schedule(s.w.now+stretchPollMs, poll)
}

// image is the partition as the active controller sees it.
func (s *stretchRun) image() (leader int32, isr []int32, ok bool) {
	ctrl := s.w.activeController()
	if ctrl == nil {
		return -1, nil, false
	}
	t, found := ctrl.image.Topic(stretchTopic)
	if !found || len(t.Partitions) == 0 {
		return -1, nil, false
	}
	return t.Partitions[0].Leader, t.Partitions[0].ISR, true
}

// replica is n's replica of the partition, if its process runs it.
func (s *stretchRun) replica(n *node) *replicaHost {
	if !n.up || n.paused {
		return nil
	}
	if h := n.replicas[s.tp]; h != nil && h.core != nil && h.log != nil {
		return h
	}
	return nil
}

func (s *stretchRun) outOfISR() bool {
	leader, isr, ok := s.image()
	if !ok || len(isr) != 1 || isr[0] != s.a.id || leader != s.a.id {
		return false
	}
	hb, hc := s.replica(s.b), s.replica(s.c)
	if hb == nil || hc == nil || hb.log.LogEndOffset() <= hc.log.LogEndOffset() {
		s.end("B or C went down, or B holds nothing past C")
		return true
	}
	s.c0, s.b0 = hc.log.LogEndOffset(), hb.log.LogEndOffset()
	s.w.timelinef("fault: emptied stretch on %s: %s stopped at %d, %s at %d; %s takes writes alone", s.tp, s.c.name(), s.c0, s.b.name(), s.b0, s.a.name())
	s.wait("A's compaction to empty the stretch", s.stretchEmptied)
	return true
}

// stretchEmptied waits until A's log holds no batch in [c0, b0) and
// records past b0; then the producers stop writing to the topic.
func (s *stretchRun) stretchEmptied() bool {
	h := s.replica(s.a)
	if h == nil || !h.core.IsLeader() {
		s.end(s.a.name() + " went down or lost its leadership")
		return true
	}
	if h.log.LogEndOffset() <= s.b0 || h.log.LogStartOffset() > s.c0 || logHoldsBatchIn(h, s.c0, s.b0) {
		return false
	}
	s.w.stretchQuiet = true
	s.w.timelinef("fault: emptied stretch on %s: %s's log holds no batch in [%d, %d); writes to %s stop", s.tp, s.a.name(), s.c0, s.b0, stretchTopic)
	s.wait("the sends in flight to end", s.sendsEnded)
	return true
}

func (s *stretchRun) sendsEnded() bool {
	for _, op := range s.w.hist.sends {
		if op.tp.topic == stretchTopic && op.outcome == pending {
			return false
		}
	}
	s.crashed = append(s.crashed, s.a)
	s.w.crash(s.a, false, "")
	s.wait("B's unclean election", s.bLeads)
	return true
}

func (s *stretchRun) bLeads() bool {
	leader, _, ok := s.image()
	if !ok || leader != s.b.id {
		return false
	}
	h := s.replica(s.b)
	if h == nil || !h.core.IsLeader() {
		return false
	}
	s.w.restart(s.a)
	s.crashed = nil
	s.wait("A to truncate to B's log and rejoin the ISR", s.aCaughtUp)
	return true
}

func (s *stretchRun) aCaughtUp() bool {
	_, isr, ok := s.image()
	h := s.replica(s.a)
	if !ok || h == nil || !slices.Contains(isr, s.a.id) || h.log.LogEndOffset() != s.b0 {
		return false
	}
	if logHoldsBatchIn(h, s.c0, s.b0) {
		s.end(s.a.name() + "'s log holds a batch in the stretch again")
		return true
	}
	w, b := s.w, s.b
	w.controlledShutdown(b, func() {
		// B comes back by itself once stopped (a shutdown that ends
		// after healing began would leave it down for good: seed 113).
		if w.phase != phaseFaulty {
			w.schedule(w.now, func() { w.restart(b) })
			return
		}
		w.schedule(w.now+2000, func() {
			if w.phase == phaseFaulty {
				w.restart(b)
			}
		})
	})
	s.wait("A to lead again", s.aLeads)
	return true
}

func (s *stretchRun) aLeads() bool {
	leader, _, ok := s.image()
	h := s.replica(s.a)
	if !ok || leader != s.a.id || h == nil || !h.core.IsLeader() {
		return false
	}
	s.healCuts()
	s.w.timelinef("fault: emptied stretch on %s: %s leads with its log ending in the stretch [%d, %d); %s fetches again", s.tp, s.a.name(), s.c0, s.b0, s.c.name())
	s.wait("C to reach A's log end", s.cCaughtUp)
	return true
}

func (s *stretchRun) cCaughtUp() bool {
	h := s.replica(s.c)
	if h == nil || h.log.LogEndOffset() < s.b0 {
		return false
	}
	s.w.stats.StretchFaultsPlayed++
	s.end("")
	return true
}

// healCuts heals the links the attempt cut.
func (s *stretchRun) healCuts() {
	for _, k := range s.cuts {
		delete(s.w.net.dataCut, k)
	}
	s.cuts = nil
}

// end ends the attempt (why: why it gave up, "" when it played out).
func (s *stretchRun) end(why string) {
	w := s.w
	if w.stretch != s {
		return
	}
	w.stretch = nil
	w.stretchQuiet = false
	s.healCuts()
	w.rec.end(w.now, "starve", s.tp.String())
	if why != "" {
		w.timelinef("fault: emptied stretch on %s ends: %s", s.tp, why)
	} else {
		w.timelinef("fault: emptied stretch on %s played out: %s reached %d", s.tp, s.c.name(), s.b0)
	}
	for _, n := range s.crashed {
		if w.phase == phaseFaulty {
			w.schedule(w.now+1000, func() {
				if w.phase == phaseFaulty {
					w.restart(n)
				}
			})
		}
	}
}

// logHoldsBatchIn says h's log holds a batch with offsets in [from, to).
func logHoldsBatchIn(h *replicaHost, from, to int64) bool {
	recs, err := h.log.Read(from, 1, to)
	if err != nil {
		return true
	}
	defer recs.Release()
	return recs.Len() > 0
}

// String names the attempt's step, for traces.
func (s *stretchRun) String() string {
	return fmt.Sprintf("emptied stretch on %s (A %s, B %s, C %s): %s", s.tp, s.a.name(), s.b.name(), s.c.name(), s.step)
}

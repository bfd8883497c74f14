package sim

// The emptied-prefix variant of the emptied-stretch fault: for half of the
// seeds that play the fault (drawn from a stream of their own), the
// stretch topic takes no writes until the first attempt cut its follower C
// off, for at most stretchPrefixQuietMs. C then stops at offset 0, the log
// start, and A's compaction has to empty [0, b0): when A leads again with
// its log ending at b0, C's fetch at the log start finds no batch below
// the log end, and A raises its log start past that empty prefix
// (cluster's emptyPrefixEnd) instead of answering an empty stretch. No
// swarm reached that path before but by chance (1 seed of 40 of the
// compaction profile, 2 of 60 of recovery): C stopped inside the log, past
// its start. With the variant and cutB, 6 seeds of 60 of the compaction
// profile reach it (seeds 9380000-9380059) and 7 of 60 of recovery
// (9381000-9381059). The compaction-empty-prefix scenario plays it on its
// own.

// stretchPrefixQuietMs bounds how long the stretch topic waits for the
// first attempt.
const stretchPrefixQuietMs = 30_000

// startStretchPrefix draws whether the run plays the emptied-prefix
// variant, and keeps the stretch topic quiet if so.
func (w *World) startStretchPrefix() {
	if !chance(newRand(w.opts.Seed, streamStretchPrefix), 0.5) {
		return
	}
	w.stretchQuiet, w.stretchPrefix = true, true
	w.timelinef("fault: emptied prefix: %s takes no writes until the first emptied-stretch attempt", stretchTopic)
	w.schedule(w.now+stretchPrefixQuietMs, func() { w.endStretchPrefix() })
}

// endStretchPrefix lets the stretch topic take writes: the first attempt
// cut C off (at the log start), or it did not start in time. It says
// whether the topic was quiet.
func (w *World) endStretchPrefix() bool {
	if !w.stretchPrefix {
		return false
	}
	w.stretchPrefix, w.stretchQuiet = false, false
	w.timelinef("fault: emptied prefix: writes to %s start", stretchTopic)
	return true
}

// cutBWaitMs is how long cutB waits for B to hold records C lacks: in the
// emptied-prefix variant's attempt, where the topic took no writes before
// C's cut, up to the step's bound; in the others not at all (B is cut as
// it always was; while an attempt runs, the crash and shutdown faults
// leave its nodes alone, and a long wait would leave the compaction
// profile's seeds without crashes).
func (s *stretchRun) cutBWaitMs() int64 {
	if s.prefix {
		return stretchStepBoundMs
	}
	return 0
}

// cutB cuts B's link to A once B holds records C lacks: while C, cut off,
// is still in the ISR, acks=all sends wait for it and few records land, so
// B may hold none past C when its turn comes (above all in the
// emptied-prefix variant, where the topic took no writes before). It
// polls until then (and while B or C is not running), up to deadline,
// then cuts it anyway (the attempt's next step ends it if B still holds
// nothing past C).
func (s *stretchRun) cutB(deadline int64) {
	w := s.w
	if w.stretch != s {
		return
	}
	hb, hc := s.replica(s.b), s.replica(s.c)
	if (hb == nil || hc == nil || hb.log.LogEndOffset() <= hc.log.LogEndOffset()) && w.now < deadline {
		w.schedule(w.now+stretchPollMs, func() { s.cutB(deadline) })
		return
	}
	s.cut(linkKey{s.b.id, s.a.id})
	w.timelinef("fault: emptied stretch on %s: follower %s stops fetching too", s.tp, s.b.name())
	s.wait("B and C out of the ISR", s.outOfISR)
}

package sim

// The emptied-prefix variant of the emptied-stretch fault: for half of the
// seeds that play the fault (drawn from a stream of their own), the
// stretch topic takes no writes until the first attempt cut its follower C
// off, for at most stretchPrefixQuietMs. C then stops at offset 0, the log
// start, and A's compaction has to empty [0, b0): when A leads again with
// its log ending at b0, C's fetch at the log start finds no batch below
// the log end, and A raises its log start past that empty prefix
// (cluster's emptyPrefixEnd) instead of answering an empty stretch. No
// swarm reached that path before: C stopped inside the log, past its
// start, in every attempt. (The compaction-empty-prefix scenario plays it
// on its own.)

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
	w.schedule(w.now+stretchPrefixQuietMs, w.endStretchPrefix)
}

// endStretchPrefix lets the stretch topic take writes: the first attempt
// cut C off (at the log start), or it did not start in time.
func (w *World) endStretchPrefix() {
	if !w.stretchPrefix {
		return
	}
	w.stretchPrefix, w.stretchQuiet = false, false
	w.timelinef("fault: emptied prefix: writes to %s start", stretchTopic)
}

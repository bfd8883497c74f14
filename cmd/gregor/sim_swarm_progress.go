package main

import (
	"fmt"
	"io"
	"time"
)

// swarmProgressEvery is the longest a swarm whose stderr is not a terminal
// (a log, CI) stays silent: a seed can take many seconds, and a log that
// waits for a tenth of the run looks like a hung swarm.
const swarmProgressEvery = 5 * time.Second

// swarmLog prints a swarm's progress lines to a log: at every tenth of the
// run, at its end, and whenever swarmProgressEvery passed since the last
// line, whether a seed ended meanwhile or not.
type swarmLog struct {
	out   io.Writer
	total int64
	every time.Duration
	// last is the elapsed time at the last line; printed says a line was
	// printed.
	last    time.Duration
	printed bool
}

// due says whether a line is due with done seeds played at elapsed;
// seedEnded says a seed just ended (a tick of the clock calls it with
// false).
func (l *swarmLog) due(done int64, elapsed time.Duration, seedEnded bool) bool {
	if seedEnded && (done == l.total || done%max(l.total/10, 1) == 0) {
		return true
	}
	return elapsed-l.last >= l.every
}

// report prints the line if one is due.
func (l *swarmLog) report(done, failed int64, elapsed time.Duration, seedEnded bool) {
	if !l.due(done, elapsed, seedEnded) {
		return
	}
	l.last, l.printed = elapsed, true
	fmt.Fprintf(l.out, "%s, %s elapsed\n", swarmProgress(done, l.total, failed, elapsed), elapsed.Round(time.Second))
}

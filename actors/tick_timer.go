package actors

import "time"

// tickTimer sends a coordinator actor its tick at its core's next deadline
// (group and transaction coordinators). The actor calls fired when the
// tick arrives.
type tickTimer struct {
	timer *time.Timer
	// atMs is the monotonic time the armed tick fires at; armed says one
	// is on its way.
	atMs  int64
	armed bool
}

// armAt schedules send at atMs, only ever moving an armed tick earlier;
// nowMs is the clock's monotonic time. send is the same on every call
// (the timer keeps the first).
func (t *tickTimer) armAt(atMs, nowMs int64, send func()) {
	if t.armed && atMs >= t.atMs {
		return
	}
	t.atMs, t.armed = atMs, true
	delay := time.Duration(max(atMs-nowMs, 0)) * time.Millisecond
	if t.timer == nil {
		t.timer = time.AfterFunc(delay, send)
		return
	}
	t.timer.Reset(delay)
}

// retryAfter schedules send after d whatever was armed (a failed load's
// retry); the next armAt may move it.
func (t *tickTimer) retryAfter(d time.Duration, send func()) {
	t.stop()
	t.timer = time.AfterFunc(d, send)
}

// fired records that the armed tick arrived.
func (t *tickTimer) fired() { t.armed = false }

// stop cancels the tick.
func (t *tickTimer) stop() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.armed = false
}

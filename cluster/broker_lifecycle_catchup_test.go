package cluster

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func caughtUpAnswer(caughtUp, fenced bool) *kmsg.BrokerHeartbeatResponse {
	resp := heartbeatAnswer(0, fenced, false)
	resp.IsCaughtUp = caughtUp
	return resp
}

// A restarted broker holding its image back: it asks to stay fenced and
// heartbeats every catchUpPollMs until the controller says it caught up
// (Ready.CaughtUp, once), then until it published; after Published it says
// so at once and is unfenced.
func TestBrokerLifecyclePublishesAfterCatchUp(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.cfg.PublishAfterCatchUp = true
	r.b.Start(r.at())
	r.sent()
	r.b.MetadataApplied(30) // the stale image it restarted with
	r.answer(registrationAnswer(0, 40), nil)
	hb := r.sent().(*kmsg.BrokerHeartbeatRequest)
	if !hb.WantFence || hb.CurrentMetadataOffset != 30 {
		t.Fatalf("heartbeat %+v", hb)
	}
	r.answer(caughtUpAnswer(false, true), nil)
	if rd := r.b.Ready(); rd.CaughtUp || r.b.CaughtUp() {
		t.Fatal("caught up before the controller said so")
	}
	if next, _ := r.b.NextDeadline(); next != catchUpPollMs {
		t.Fatalf("next heartbeat at %d", next)
	}
	r.tickTo(catchUpPollMs)
	r.sent()
	r.b.MetadataApplied(40)
	r.answer(caughtUpAnswer(false, true), nil)
	r.tickTo(2 * catchUpPollMs)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.CurrentMetadataOffset != 40 || !hb.WantFence {
		t.Fatalf("heartbeat %+v", hb)
	}
	r.answer(caughtUpAnswer(true, true), nil)
	rd := r.b.Ready()
	if !rd.CaughtUp || !r.b.CaughtUp() || rd.Request != nil {
		t.Fatalf("ready %+v", rd)
	}
	r.expectState(BrokerRecovery)
	// Still publishing: a heartbeat goes out, still asking to stay fenced.
	r.tickTo(3 * catchUpPollMs)
	r.sent()
	r.now += 3
	r.b.Published(r.at()) // while that heartbeat is in flight
	r.quiet()
	r.answer(caughtUpAnswer(true, true), nil)
	rd = r.b.Ready()
	if rd.CaughtUp {
		t.Fatal("CaughtUp reported twice")
	}
	if hb, ok := rd.Request.(*kmsg.BrokerHeartbeatRequest); !ok || hb.WantFence {
		t.Fatalf("after Published, at once: %+v", rd.Request)
	}
	r.answer(caughtUpAnswer(true, false), nil)
	r.expectState(BrokerRunning)
	if next, _ := r.b.NextDeadline(); next != r.now+500 {
		t.Fatalf("running: next heartbeat at %d", next)
	}
	// Fenced again later (a lapsed session), it never asks to stay fenced.
	r.tickTo(next(r))
	r.sent()
	r.answer(caughtUpAnswer(true, true), nil)
	r.expectState(BrokerRecovery)
	r.tickTo(next(r))
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.WantFence || r.now != 1000+3*catchUpPollMs+3 {
		t.Fatalf("at %d: heartbeat %+v", r.now, hb)
	}
}

// Without PublishAfterCatchUp (the default) a broker never asks to stay
// fenced, but still reports its catch-up once; Published before the answer
// sends nothing early.
func TestBrokerLifecycleCatchUpWithoutHolding(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 5), nil)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.WantFence {
		t.Fatal("WantFence without PublishAfterCatchUp")
	}
	r.answer(caughtUpAnswer(true, false), nil)
	if rd := r.b.Ready(); !rd.CaughtUp || !rd.StateChanged {
		t.Fatalf("ready %+v", rd)
	}
	r.expectState(BrokerRunning)
	r.b.Published(r.at())
	r.quiet()
	if next, _ := r.b.NextDeadline(); next != 500 {
		t.Fatalf("next heartbeat at %d", next)
	}
}

func next(r *lifecycleRun) int64 {
	r.t.Helper()
	n, ok := r.b.NextDeadline()
	if !ok {
		r.t.Fatal("no deadline")
	}
	return n
}

// A broker whose caller writes running markers (WaitRunningMarker)
// heartbeats after a registration only once the caller reported its
// marker; one not written (a full disk) keeps it asking to stay fenced,
// published or not, heartbeating every catchUpPollMs; once written the
// next heartbeat goes at once and asks to be unfenced.
func TestBrokerLifecycleHoldsFencedUntilItsMarkerIsWritten(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.cfg.PublishAfterCatchUp, r.b.cfg.WaitRunningMarker = true, true
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 5), nil)
	r.quiet()
	if _, ok := r.b.NextDeadline(); ok {
		t.Fatal("a deadline before the marker was reported")
	}
	r.b.RunningMarker(r.at(), false)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); !hb.WantFence {
		t.Fatalf("heartbeat %+v", hb)
	}
	r.answer(caughtUpAnswer(true, true), nil)
	r.b.Published(r.at())
	hb, ok := r.b.Ready().Request.(*kmsg.BrokerHeartbeatRequest)
	if !ok || !hb.WantFence {
		t.Fatalf("published without its marker: %+v", hb)
	}
	r.answer(caughtUpAnswer(true, true), nil)
	r.expectState(BrokerRecovery)
	if next, _ := r.b.NextDeadline(); next != r.now+catchUpPollMs {
		t.Fatalf("next heartbeat at %d, now %d", next, r.now)
	}
	r.now += 3
	r.b.RunningMarker(r.at(), true)
	if hb, ok := r.b.Ready().Request.(*kmsg.BrokerHeartbeatRequest); !ok || hb.WantFence {
		t.Fatalf("marker written, at once: %+v", hb)
	}
	r.answer(caughtUpAnswer(true, false), nil)
	r.expectState(BrokerRunning)
}

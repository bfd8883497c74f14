package cluster

import (
	"errors"
	"strings"
	"testing"
)

// A broker in controlled shutdown that sees no other active broker waits
// for a controller that never answers (the metadata quorum went down with
// the other nodes) one heartbeat interval, not its whole controlled
// shutdown timeout; one that sees another active broker waits the timeout,
// and one whose controller answers stops when it says.
func TestBrokerLifecycleLastBrokerStopsWithoutController(t *testing.T) {
	for _, tc := range []struct {
		name        string
		othersGone  bool // the metadata shows no other active broker
		goneAtMs    int64
		wantStopMs  int64
		wantLastMsg bool
	}{
		{name: "others active", wantStopMs: 2100},
		{name: "others gone before", othersGone: true, goneAtMs: 100, wantStopMs: 600, wantLastMsg: true},
		{name: "others gone during", othersGone: true, goneAtMs: 350, wantStopMs: 600, wantLastMsg: true},
		{name: "others gone late", othersGone: true, goneAtMs: 1500, wantStopMs: 1500, wantLastMsg: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newLifecycleRun(t)
			r.b.Start(r.at())
			r.sent()
			r.answer(registrationAnswer(0, 1), nil)
			r.sent()
			r.answer(heartbeatAnswer(0, false, false), nil)
			r.expectState(BrokerRunning)
			r.b.OtherBrokersActive(true)
			r.tickTo(100)
			r.b.BeginControlledShutdown(r.at())
			var reason string
			// drain answers the request the last call sent, if any: no
			// controller answers (the call fails at once here; in
			// production it retries until its deadline).
			drain := func() {
				for {
					rd := r.b.Ready()
					if rd.StateChanged {
						reason = rd.Reason
					}
					if rd.Request == nil {
						return
					}
					r.answer(nil, errors.New("no controller"))
				}
			}
			drain()
			for steps := 0; r.b.State() == BrokerPendingControlledShutdown; steps++ {
				if steps > 100 {
					t.Fatalf("at %d ms: still in controlled shutdown after %d steps", r.now, steps)
				}
				next, _ := r.b.NextDeadline()
				if tc.othersGone && r.now < tc.goneAtMs && next >= tc.goneAtMs {
					next = tc.goneAtMs
				}
				r.tickTo(next)
				if tc.othersGone && r.now >= tc.goneAtMs {
					r.b.OtherBrokersActive(false)
					r.b.Tick(r.at())
				}
				drain()
			}
			r.expectState(BrokerShuttingDown)
			if r.now != tc.wantStopMs {
				t.Fatalf("stopped at %d ms, want %d (%s)", r.now, tc.wantStopMs, reason)
			}
			if got := strings.Contains(reason, "no other broker is active"); got != tc.wantLastMsg {
				t.Fatalf("reason %q", reason)
			}
		})
	}
}

// The controller's answer still ends the wait of a broker that sees no
// other active broker, before the heartbeat interval is over.
func TestBrokerLifecycleLastBrokerTakesTheControllersAnswer(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 1), nil)
	r.sent()
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.b.OtherBrokersActive(false)
	r.tickTo(100)
	r.b.BeginControlledShutdown(r.at())
	r.sent()
	if next, _ := r.b.NextDeadline(); next != 600 {
		t.Fatalf("next deadline %d with a heartbeat in flight, want 600", next)
	}
	r.tickTo(130)
	r.answer(heartbeatAnswer(0, true, true), nil)
	r.expectState(BrokerShuttingDown)
}

// ActiveBrokerOtherThan counts only unfenced brokers not in controlled
// shutdown, and never the broker asking.
func TestActiveBrokerOtherThan(t *testing.T) {
	m := applied(t, NewMetadataImage(),
		RegisterBrokerRecord{BrokerID: 1, IncarnationID: IncarnationID{1}, BrokerEpoch: 0, Fenced: true},
		RegisterBrokerRecord{BrokerID: 2, IncarnationID: IncarnationID{2}, BrokerEpoch: 1, Fenced: true},
		RegisterBrokerRecord{BrokerID: 3, IncarnationID: IncarnationID{3}, BrokerEpoch: 2, Fenced: true})
	for _, step := range []struct {
		rec  MetadataRecord
		want [4]bool // for brokers 0 (none such) to 3
	}{
		{nil, [4]bool{false, false, false, false}},
		{BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 0, Fenced: UnfenceBroker}, [4]bool{true, false, true, true}},
		{BrokerRegistrationChangeRecord{BrokerID: 2, BrokerEpoch: 1, Fenced: UnfenceBroker}, [4]bool{true, true, true, true}},
		{BrokerRegistrationChangeRecord{BrokerID: 1, BrokerEpoch: 0, InControlledShutdown: true}, [4]bool{true, true, false, true}},
		{BrokerRegistrationChangeRecord{BrokerID: 2, BrokerEpoch: 1, Fenced: FenceBroker}, [4]bool{false, false, false, false}},
	} {
		if step.rec != nil {
			m = applied(t, m, step.rec)
		}
		for id, want := range step.want {
			if got := m.ActiveBrokerOtherThan(int32(id)); got != want {
				t.Fatalf("after %+v: ActiveBrokerOtherThan(%d) = %v, want %v", step.rec, id, got, want)
			}
		}
	}
}

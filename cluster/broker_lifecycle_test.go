package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lifecycleRun drives a BrokerLifecycle, checking that a request goes out
// exactly when one is expected.
type lifecycleRun struct {
	t   *testing.T
	b   *BrokerLifecycle
	now int64
	req kmsg.Request
}

func newLifecycleRun(t *testing.T) *lifecycleRun {
	b := NewBrokerLifecycle(BrokerLifecycleConfig{NodeID: 3, IncarnationID: IncarnationID{9},
		Listeners:           []BrokerEndpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092}},
		HeartbeatIntervalMs: 500, SessionTimeoutMs: 3000, ControlledShutdownTimeoutMs: 2000})
	return &lifecycleRun{t: t, b: b}
}

func (r *lifecycleRun) at() Instant { return Instant{WallMs: r.now, MonoMs: r.now} }

// sent takes the request the last call made the lifecycle send.
func (r *lifecycleRun) sent() kmsg.Request {
	r.t.Helper()
	rd := r.b.Ready()
	if rd.Request == nil {
		r.t.Fatalf("at %d ms in state %s: no request sent", r.now, r.b.State())
	}
	r.req = rd.Request
	return rd.Request
}

func (r *lifecycleRun) quiet() {
	r.t.Helper()
	if rd := r.b.Ready(); rd.Request != nil {
		r.t.Fatalf("at %d ms: unexpected %T", r.now, rd.Request)
	}
}

func (r *lifecycleRun) tickTo(ms int64) {
	r.now = ms
	r.b.Tick(r.at())
}

func (r *lifecycleRun) answer(resp kmsg.Response, err error) { r.b.Answered(r.at(), resp, err) }

func registrationAnswer(code int16, epoch int64) *kmsg.BrokerRegistrationResponse {
	resp := kmsg.NewPtrBrokerRegistrationResponse()
	resp.ErrorCode, resp.BrokerEpoch = code, epoch
	return resp
}

func heartbeatAnswer(code int16, fenced, shutdown bool) *kmsg.BrokerHeartbeatResponse {
	resp := kmsg.NewPtrBrokerHeartbeatResponse()
	resp.ErrorCode, resp.IsFenced, resp.ShouldShutdown = code, fenced, shutdown
	return resp
}

func (r *lifecycleRun) expectState(s BrokerState) {
	r.t.Helper()
	if r.b.State() != s {
		r.t.Fatalf("at %d ms: state %s, want %s", r.now, r.b.State(), s)
	}
}

// A broker registers, heartbeats with the offset it applied, is unfenced
// once the controller says so, and heartbeats every interval.
func TestBrokerLifecycleRegistersAndUnfences(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.SetClusterID("c")
	r.b.Start(r.at())
	reg := r.sent().(*kmsg.BrokerRegistrationRequest)
	if reg.BrokerID != 3 || reg.ClusterID != "c" || reg.IncarnationID != [16]byte{9} || len(reg.Listeners) != 1 || reg.Listeners[0].Port != 9092 {
		t.Fatalf("registration %+v", reg)
	}
	r.tickTo(10)
	r.quiet() // one request at a time
	r.answer(nil, errors.New("connection refused"))
	r.quiet()
	if next, ok := r.b.NextDeadline(); !ok || next != 110 {
		t.Fatalf("retry at %d %t", next, ok)
	}
	r.tickTo(110)
	r.sent()
	r.b.MetadataApplied(41)
	r.answer(registrationAnswer(0, 40), nil)
	r.expectState(BrokerRecovery)
	hb := r.sent().(*kmsg.BrokerHeartbeatRequest)
	if hb.BrokerEpoch != 40 || hb.CurrentMetadataOffset != 41 || hb.WantShutdown {
		t.Fatalf("heartbeat %+v", hb)
	}
	r.answer(heartbeatAnswer(0, true, false), nil)
	r.expectState(BrokerRecovery)
	r.tickTo(609)
	r.quiet()
	r.tickTo(610)
	r.sent()
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.expectState(BrokerRunning)
	if rd := r.b.Ready(); !rd.StateChanged || !strings.Contains(rd.Reason, "unfenced") {
		t.Fatalf("ready %+v", rd)
	}
	// Fenced by the controller (its session lapsed), it recovers.
	r.tickTo(1110)
	r.sent()
	r.answer(heartbeatAnswer(0, true, false), nil)
	r.expectState(BrokerRecovery)
	// A registration that went away: register again.
	r.tickTo(1610)
	r.sent()
	r.answer(heartbeatAnswer(kerr.StaleBrokerEpoch.Code, true, false), nil)
	r.expectState(BrokerStarting)
	if _, ok := r.sent().(*kmsg.BrokerRegistrationRequest); !ok {
		t.Fatal("no registration after a stale epoch")
	}
}

// A fenced broker that catches up with its own registration (the
// controller unfences a broker whose metadata offset reached its broker
// epoch) heartbeats at once, not an interval later: when its offset
// passes the epoch while no heartbeat is in flight, and when a heartbeat
// sent behind it is answered after it caught up.
func TestBrokerLifecycleHeartbeatsOnceCaughtUp(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.MetadataApplied(30)
	r.b.Start(r.at())
	r.sent()
	r.tickTo(5)
	r.answer(registrationAnswer(0, 40), nil)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.CurrentMetadataOffset != 30 {
		t.Fatalf("heartbeat at offset %d", hb.CurrentMetadataOffset)
	}
	r.tickTo(8)
	r.answer(heartbeatAnswer(0, true, false), nil)
	if next, _ := r.b.NextDeadline(); next != 508 {
		t.Fatalf("behind its registration, next heartbeat at %d", next)
	}
	r.b.MetadataApplied(39)
	if next, _ := r.b.NextDeadline(); next != 508 {
		t.Fatalf("still behind, next heartbeat at %d", next)
	}
	r.now = 20
	r.b.MetadataApplied(40)
	if next, _ := r.b.NextDeadline(); next > 20 {
		t.Fatalf("caught up at 20 ms, next heartbeat at %d", next)
	}
	r.tickTo(20)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.CurrentMetadataOffset != 40 {
		t.Fatalf("heartbeat at offset %d", hb.CurrentMetadataOffset)
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.expectState(BrokerRunning)

	// Caught up while the heartbeat sent behind is in flight.
	r = newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 7), nil)
	r.sent()
	r.b.MetadataApplied(9)
	r.tickTo(3)
	r.quiet()
	r.answer(heartbeatAnswer(0, true, false), nil)
	if hb := r.sent().(*kmsg.BrokerHeartbeatRequest); hb.CurrentMetadataOffset != 9 {
		t.Fatalf("heartbeat at offset %d", hb.CurrentMetadataOffset)
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.expectState(BrokerRunning)
	// Fenced later (its session lapsed) and behind that fence: it asks
	// again soon, as it catches up to it.
	r.tickTo(503)
	r.sent()
	r.answer(heartbeatAnswer(0, true, false), nil)
	r.expectState(BrokerRecovery)
	if next, _ := r.b.NextDeadline(); next != 503+catchUpPollMs {
		t.Fatalf("fenced behind its fence, next heartbeat at %d", next)
	}
}

// A registration refused as a duplicate is retried for a session timeout
// and two heartbeat intervals (the registered incarnation may be this node's
// dead process), then the broker fails naming the conflict.
func TestBrokerLifecycleDuplicateFails(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.Start(r.at())
	for r.b.State() == BrokerStarting {
		r.sent()
		r.answer(registrationAnswer(kerr.DuplicateBrokerRegistration.Code, -1), nil)
		if next, ok := r.b.NextDeadline(); ok {
			r.tickTo(next)
		}
		if r.now > 10_000 {
			t.Fatal("still retrying after 10 s")
		}
	}
	r.expectState(BrokerFailed)
	if r.now != 4000 || r.b.Err() == nil || !strings.Contains(r.b.Err().Error(), "node.id 3") {
		t.Fatalf("failed at %d ms: %v", r.now, r.b.Err())
	}
	if _, ok := r.b.NextDeadline(); ok {
		t.Fatal("a failed broker has a deadline")
	}

	// A duplicate that goes away in time (the old session lapsed).
	r = newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(kerr.DuplicateBrokerRegistration.Code, -1), nil)
	r.tickTo(500)
	r.sent()
	r.answer(registrationAnswer(0, 7), nil)
	r.expectState(BrokerRecovery)

	// A directory of another cluster: the failure names its cluster id
	// and says what to do.
	r = newLifecycleRun(t)
	r.b.SetClusterID("other-cluster")
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(kerr.InconsistentClusterID.Code, -1), nil)
	r.expectState(BrokerFailed)
	if err := r.b.Err(); err == nil || !strings.Contains(err.Error(), "belongs to cluster other-cluster") || !strings.Contains(err.Error(), "point log.dirs") {
		t.Fatalf("refused as of another cluster: %v", err)
	}
}

// A controlled shutdown heartbeats WantShutdown until the controller says
// the broker may stop, polling quickly meanwhile; it ends at its timeout
// anyway.
func TestBrokerLifecycleControlledShutdown(t *testing.T) {
	r := newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 1), nil)
	r.sent()
	r.answer(heartbeatAnswer(0, false, false), nil)
	r.expectState(BrokerRunning)
	r.tickTo(100)
	r.b.BeginControlledShutdown(r.at())
	r.expectState(BrokerPendingControlledShutdown)
	hb := r.sent().(*kmsg.BrokerHeartbeatRequest)
	if !hb.WantShutdown {
		t.Fatal("no WantShutdown")
	}
	r.answer(heartbeatAnswer(0, false, false), nil)
	if next, _ := r.b.NextDeadline(); next != 150 {
		t.Fatalf("next ask at %d", next)
	}
	r.tickTo(150)
	r.sent()
	r.answer(heartbeatAnswer(0, true, true), nil)
	r.expectState(BrokerShuttingDown)
	r.tickTo(10_000)
	r.quiet()

	// A controller that never lets it go.
	r = newLifecycleRun(t)
	r.b.Start(r.at())
	r.sent()
	r.answer(registrationAnswer(0, 1), nil)
	r.sent()
	r.b.BeginControlledShutdown(r.at()) // while a heartbeat is in flight
	r.answer(nil, errors.New("timeout"))
	for r.b.State() == BrokerPendingControlledShutdown {
		next, _ := r.b.NextDeadline()
		r.tickTo(next)
		if rd := r.b.Ready(); rd.Request != nil {
			r.answer(heartbeatAnswer(0, false, false), nil)
		}
	}
	r.expectState(BrokerShuttingDown)
	if r.now != 2000 {
		t.Fatalf("gave up at %d ms", r.now)
	}

	// Never registered: stops at once.
	r = newLifecycleRun(t)
	r.b.BeginControlledShutdown(r.at())
	r.expectState(BrokerShuttingDown)
}

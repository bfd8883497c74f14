package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBrokerLeaseScripts runs testdata/broker_lease: a broker lifecycle
// core fed scripted controller answers at scripted times, printing the
// requests it sends, its state and its lease. Time is one number
// (monotonic ms).
//
//	new [heartbeat=MS] [session=MS]
//	tick T              the clock moves to T; prints what is sent
//	answer T ok|fenced|stale|shutdown|error|failed [local]
//	                    the request in flight is answered at T (by this
//	                    node's own controller with local)
//	register T [epoch=E]
//	                    shorthand: the registration is answered at T
//	shutdown T          a controlled shutdown begins at T
//	lease T [hold=H|sole]
//	                    is the lease valid at T, and until when, while
//	                    this node's quorum leadership holds until H (0),
//	                    or for ever (sole: the quorum's only voter)
//	leader T id=N       the broker learns at T that node N leads the quorum
//	others T active|gone
//	                    the metadata applied at T shows another active
//	                    broker, or none
//	applied T offset=N  the node applied metadata up to offset N at T
//	resigned T offset=N the quorum's leader resigned at T, having committed
//	                    offset N (-1: a leader may lead again)
//	answer-old T ok     the request sent before the one in flight is
//	                    answered at T (taken, or dropped as superseded)
func TestBrokerLeaseScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/broker_lease", func(t *testing.T, path string) {
		h := &leaseHarness{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type leaseHarness struct {
	b   *BrokerLifecycle
	now int64
	// sent are the requests the core sent, in order.
	sent []kmsg.Request
}

func (h *leaseHarness) at() Instant { return Instant{WallMs: h.now, MonoMs: h.now} }

func (h *leaseHarness) timeArg(t *testing.T, td *datadriven.TestData) {
	if len(td.CmdArgs) == 0 || len(td.CmdArgs[0].Vals) != 0 {
		td.Fatalf(t, "%s: want a time first", td.Cmd)
	}
	var ms int64
	if _, err := fmt.Sscan(td.CmdArgs[0].Key, &ms); err != nil {
		td.Fatalf(t, "%s: time %q: %v", td.Cmd, td.CmdArgs[0].Key, err)
	}
	if ms < h.now {
		td.Fatalf(t, "%s: time goes back from %d to %d", td.Cmd, h.now, ms)
	}
	h.now = ms
}

func (h *leaseHarness) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && h.b == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	switch td.Cmd {
	case "new":
		hb, session := int64(500), int64(6000)
		if td.HasArg("heartbeat") {
			td.ScanArgs(t, "heartbeat", &hb)
		}
		if td.HasArg("session") {
			td.ScanArgs(t, "session", &session)
		}
		h.b = NewBrokerLifecycle(BrokerLifecycleConfig{NodeID: 2, IncarnationID: IncarnationID{2},
			HeartbeatIntervalMs: hb, SessionTimeoutMs: session, RetryBackoffMs: 100})
		h.now = 0
		h.b.Start(h.at())
		return fmt.Sprintf("fence after %d ms, lease %d ms\n%s", BrokerFenceAfterMs(session, hb), BrokerLeaseMs(session, hb), h.drain())
	case "tick":
		h.timeArg(t, td)
		h.b.Tick(h.at())
		return h.drain()
	case "register":
		h.timeArg(t, td)
		epoch := int64(10)
		if td.HasArg("epoch") {
			td.ScanArgs(t, "epoch", &epoch)
		}
		h.b.Answered(h.at(), registrationAnswer(0, epoch), nil)
		return h.drain()
	case "answer":
		h.timeArg(t, td)
		if len(td.CmdArgs) < 2 {
			td.Fatalf(t, "answer T KIND [local]")
		}
		answer := h.b.AnsweredTo
		if td.HasArg("local") {
			answer = h.b.AnsweredLocally
		}
		req := h.b.inFlight
		switch kind := td.CmdArgs[1].Key; kind {
		case "ok":
			answer(h.at(), req, heartbeatAnswer(0, false, false), nil)
		case "fenced":
			answer(h.at(), req, heartbeatAnswer(0, true, false), nil)
		case "shutdown":
			answer(h.at(), req, heartbeatAnswer(0, false, true), nil)
		case "stale":
			answer(h.at(), req, heartbeatAnswer(kerr.StaleBrokerEpoch.Code, true, false), nil)
		case "error":
			answer(h.at(), req, heartbeatAnswer(kerr.NotController.Code, false, false), nil)
		case "failed":
			answer(h.at(), req, nil, fmt.Errorf("timed out"))
		default:
			td.Fatalf(t, "unknown answer %q", kind)
		}
		return h.drain()
	case "shutdown":
		h.timeArg(t, td)
		h.b.BeginControlledShutdown(h.at())
		return h.drain()
	case "leader":
		h.timeArg(t, td)
		var id int
		td.ScanArgs(t, "id", &id)
		h.b.QuorumLeader(h.at(), int32(id))
		return h.drain()
	case "others":
		h.timeArg(t, td)
		h.b.OtherBrokersActive(td.HasArg("active"))
		h.b.Tick(h.at())
		return h.drain()
	case "applied":
		h.timeArg(t, td)
		var offset int64
		td.ScanArgs(t, "offset", &offset)
		h.b.MetadataApplied(offset)
		h.b.Tick(h.at())
		return h.drain()
	case "resigned":
		h.timeArg(t, td)
		var offset int64
		td.ScanArgs(t, "offset", &offset)
		h.b.QuorumResigned(h.at(), offset)
		return h.drain()
	case "answer-old":
		h.timeArg(t, td)
		if len(h.sent) < 2 {
			td.Fatalf(t, "answer-old: fewer than two requests sent")
		}
		verdict := "dropped"
		if h.b.AnsweredTo(h.at(), h.sent[len(h.sent)-2], heartbeatAnswer(0, false, false), nil) {
			verdict = "taken"
		}
		return verdict + "\n" + h.drain()
	case "lease":
		h.timeArg(t, td)
		var hold int64
		if td.HasArg("hold") {
			td.ScanArgs(t, "hold", &hold)
		}
		if td.HasArg("sole") {
			hold = SoleVoterHold
		}
		l := h.b.Lease()
		until, held := l.UntilMs(hold)
		if !held {
			return fmt.Sprintf("%s: no lease\n", h.b.State())
		}
		verdict := "lapsed"
		if l.Valid(h.now, hold) {
			verdict = "valid"
		}
		return fmt.Sprintf("%s: %s (until %d)\n", h.b.State(), verdict, until)
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

// drain prints what the core did since the last call.
func (h *leaseHarness) drain() string {
	var out strings.Builder
	rd := h.b.Ready()
	if rd.Request != nil {
		h.sent = append(h.sent, rd.Request)
	}
	if rd.StateChanged {
		fmt.Fprintf(&out, "state %s (%s)\n", h.b.State(), rd.Reason)
	}
	switch r := rd.Request.(type) {
	case nil:
	case *kmsg.BrokerRegistrationRequest:
		fmt.Fprintf(&out, "send registration\n")
	case *kmsg.BrokerHeartbeatRequest:
		fmt.Fprintf(&out, "send heartbeat epoch=%d want-shutdown=%t\n", r.BrokerEpoch, r.WantShutdown)
	default:
		fmt.Fprintf(&out, "send %T\n", r)
	}
	if d, ok := h.b.NextDeadline(); ok {
		fmt.Fprintf(&out, "next %d\n", d)
	}
	return out.String()
}

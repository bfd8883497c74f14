package actors

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
)

// A cancelled controller call makes no more attempts and never answers:
// a broker's heartbeat superseded by a fresh one (sent when a new quorum
// leader is known) stops asking a controller that keeps refusing it, long
// before its deadline.
func TestCancelledControllerCallStopsAsking(t *testing.T) {
	var asked atomic.Int32
	srv, err := netio.NewServer(netio.Config{
		Address:     "127.0.0.1:0",
		APIVersions: []netio.APIVersionRange{{APIKey: 63, MinVersion: 0, MaxVersion: 2}},
	}, handlerFunc(func(req *netio.Request, respond func(kmsg.Response)) {
		asked.Add(1)
		resp := req.Body.(*kmsg.BrokerHeartbeatRequest).ResponseKind().(*kmsg.BrokerHeartbeatResponse)
		resp.ErrorCode = kerr.NotController.Code
		respond(resp)
	}), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	n := &Node{logger: zap.NewNop(), cfg: Config{NodeID: 2, Clock: newSystemClock(), ControllerRequestTimeoutMs: 10_000,
		QuorumVoters: []QuorumVoter{{NodeID: 1, Address: srv.Addr().String()}}}}
	n.controllers = &controllerClients{node: n}
	t.Cleanup(n.controllers.close)
	n.quorumLeader.Store(1)

	var answered atomic.Bool
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID = 2
	call := n.sendToControllerWithin(hb, 10*time.Second, func(kmsg.Response, error) { answered.Store(true) })
	waitFor(t, 10*time.Second, "three attempts", func() bool { return asked.Load() >= 3 })
	call.cancel()
	// The backoff between attempts is at most 500 ms: the call is over
	// well within 2 s of its cancel, 8 s before its deadline.
	select {
	case <-call.retired:
	case <-time.After(2 * time.Second):
		t.Fatalf("the cancelled call still asks: %d attempts so far", asked.Load())
	}
	if answered.Load() {
		t.Fatal("a cancelled call answered its caller")
	}
}

// handlerFunc adapts a function to netio.Handler.
type handlerFunc func(req *netio.Request, respond func(kmsg.Response))

// Handle calls f.
func (f handlerFunc) Handle(req *netio.Request, respond func(kmsg.Response)) { f(req, respond) }

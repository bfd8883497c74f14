package actors

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// UnregisterBroker sent to a broker's client listener (Kafka's
// kafka-cluster.sh unregister) is forwarded to the controller, as Kafka's
// brokers do: a stopped broker's registration goes, and the answer comes
// once the node's own image shows it gone; an unknown id is
// BROKER_ID_NOT_REGISTERED.
func TestUnregisterBrokerThroughABroker(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.stop(2, false)
	waitFor(t, 30*time.Second, "broker 3 to be fenced", func() bool {
		b, ok := c.node(0).routes.load().image.Broker(3)
		return ok && b.Fenced
	})
	cl := newClient(t, c.node(0))
	unregister := func(id int32) *kmsg.UnregisterBrokerResponse {
		t.Helper()
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("unregister %d: %v", id, err)
		}
		return resp
	}
	if resp := unregister(3); resp.ErrorCode != 0 {
		t.Fatalf("unregister 3: %v %v", kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
	}
	if _, ok := c.node(0).routes.load().image.Broker(3); ok {
		t.Fatal("broker 3 is still in node 1's image after the answer")
	}
	if resp := unregister(99); resp.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister 99: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

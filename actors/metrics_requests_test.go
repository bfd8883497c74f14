package actors

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRequestCountersCountEveryMessage: the requests a node sends other
// nodes (gregor_requests_sent_total) and those its CONTROLLER listener
// answers (gregor_controller_listener_requests_total) are counted by API,
// so that with the client listener's counts every message of a workload is
// accounted for: the leaders answered no more follower Fetches than the
// followers sent (some are parked, some given up on a closed connection),
// and the brokers' heartbeats reach the CONTROLLER listeners.
func TestRequestCountersCountEveryMessage(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 60*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "counted"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("counted", 3)
	c.waitISRFull(active, "counted", 3)
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()))
	for range 10 {
		for range 10 {
			prod.Produce(ctx, &kgo.Record{Topic: "counted", Value: []byte("v")}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	counter := func(vec *prometheus.CounterVec, api string) float64 {
		var m dto.Metric
		if err := vec.WithLabelValues(api).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	var sent, answered, heartbeats float64
	for i := range 3 {
		n := c.node(i)
		sent += counter(n.metrics.requestsSent, "Fetch")
		heartbeats += counter(n.metrics.controllerRequests, "BrokerHeartbeat")
		o, _ := n.metrics.requests.GetMetricWithLabelValues("Fetch")
		var m dto.Metric
		if err := o.(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		answered += float64(m.GetHistogram().GetSampleCount())
	}
	t.Logf("Fetch: %.0f sent, %.0f answered; %.0f heartbeats received", sent, answered, heartbeats)
	if answered == 0 || sent < answered {
		t.Fatalf("%.0f Fetch requests sent, %.0f answered: want some answered, and no more than were sent", sent, answered)
	}
	if heartbeats == 0 {
		t.Fatal("no BrokerHeartbeat counted on the CONTROLLER listeners")
	}
}

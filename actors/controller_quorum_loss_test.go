package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quorumLossTimeoutMs is the timeout the metadata requests of
// TestMetadataRequestsAnsweredWithoutQuorum carry (or, for those without
// one, the controller request timeout): shorter than the election timeout,
// so the first request reaches a controller that still believes it leads.
const quorumLossTimeoutMs = 2000

// metadataRequests are requests that change metadata, each timing out
// after timeoutMs (those without a timeout of their own take the node's
// controller request timeout).
func metadataRequests(timeoutMs int32) []kmsg.Request {
	ct := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = "no-quorum", 1, 1
	ct.Topics, ct.TimeoutMillis = append(ct.Topics, t), timeoutMs

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("kept")
	dt.TopicNames, dt.Topics, dt.TimeoutMillis = []string{"kept"}, append(dt.Topics, dtt), timeoutMs // names before v6, topics from v6

	cp := kmsg.NewPtrCreatePartitionsRequest()
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "kept", 2
	cp.Topics, cp.TimeoutMillis = append(cp.Topics, cpt), timeoutMs

	ac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "kept"
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("1000")
	r.Configs = append(r.Configs, c)
	ac.Resources = append(ac.Resources, r)
	return []kmsg.Request{ct, dt, cp, ac}
}

// allRefusedWithin sends each of reqs to node i, all at once (each on a
// client of its own), and fails unless each is answered within its timeout
// (plus a second for the round trips) with REQUEST_TIMED_OUT or
// NOT_CONTROLLER.
func (c *testCluster) allRefusedWithin(i int, reqs []kmsg.Request, timeoutMs int32) {
	c.t.Helper()
	var wg sync.WaitGroup
	for _, req := range reqs {
		cl := newClient(c.t, c.node(i))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond+5*time.Second)
			defer cancel()
			started := time.Now()
			resp, err := cl.SeedBrokers()[0].Request(ctx, req)
			took := time.Since(started)
			name := kmsg.NameForKey(req.Key())
			if err != nil {
				c.t.Errorf("%s through node %d: no answer after %v: %v", name, i+1, took, err)
				return
			}
			if limit := time.Duration(timeoutMs)*time.Millisecond + time.Second; took > limit {
				c.t.Errorf("%s through node %d answered after %v, past its %d ms timeout", name, i+1, took, timeoutMs)
			}
			if code := controllerErrorCode(resp); code != kerr.RequestTimedOut.Code && code != kerr.NotController.Code {
				c.t.Errorf("%s through node %d: error %v, want REQUEST_TIMED_OUT or NOT_CONTROLLER", name, i+1, kerr.ErrorForCode(code))
				return
			}
			c.t.Logf("%s through node %d refused after %v: %v", name, i+1, took, kerr.ErrorForCode(controllerErrorCode(resp)))
		})
	}
	wg.Wait()
	if c.t.Failed() {
		c.t.FailNow()
	}
}

// controllerErrorCode is the error a refused metadata request's answer
// carries: its one entry's (0 for an answer of another shape).
func controllerErrorCode(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.CreateTopicsResponse:
		if len(r.Topics) == 1 {
			return r.Topics[0].ErrorCode
		}
	case *kmsg.DeleteTopicsResponse:
		if len(r.Topics) == 1 {
			return r.Topics[0].ErrorCode
		}
	case *kmsg.CreatePartitionsResponse:
		if len(r.Topics) == 1 {
			return r.Topics[0].ErrorCode
		}
	case *kmsg.IncrementalAlterConfigsResponse:
		if len(r.Resources) == 1 {
			return r.Resources[0].ErrorCode
		}
	}
	return 0
}

// With two of three voters gone, every metadata change sent to the survivor
// is refused within its timeout: while its controller still believes it
// leads (its proposals cannot commit), and after it stepped down (no
// controller answers at all).
func TestMetadataRequestsAnsweredWithoutQuorum(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		// Check-quorum deposes a leader cut off from the others after an
		// election timeout: longer than the requests' timeout, so the
		// first one meets an active controller.
		cfg.QuorumElectionTimeoutMs = 3 * quorumLossTimeoutMs
		cfg.ControllerRequestTimeoutMs = quorumLossTimeoutMs
	})
	c.startAll()
	survivor := c.activeController()
	c.createTopicEventually(survivor, "kept", 1, 3)
	c.waitForTopic("kept", 1)

	var wg sync.WaitGroup
	for i := range 3 {
		if i != survivor {
			wg.Add(1)
			go func() { defer wg.Done(); c.stop(i, false) }()
		}
	}
	wg.Wait()
	if !c.node(survivor).controllerActive.Load() {
		t.Fatalf("node %d stepped down before the first request: the test needs a longer election timeout", survivor+1)
	}
	c.allRefusedWithin(survivor, metadataRequests(quorumLossTimeoutMs), quorumLossTimeoutMs)
	waitFor(t, 30*time.Second, "the survivor's controller to step down", func() bool {
		return !c.node(survivor).controllerActive.Load()
	})
	c.allRefusedWithin(survivor, metadataRequests(quorumLossTimeoutMs), quorumLossTimeoutMs)
	if _, ok := c.node(survivor).routes.load().image.Topic("no-quorum"); ok {
		t.Fatal("a topic was created without a quorum")
	}
}

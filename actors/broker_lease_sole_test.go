package actors

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// stallClock is the system clock moved forward at will: a process whose
// goroutines were starved for a while finds that much time gone at once,
// its heartbeats' answers late.
type stallClock struct {
	base    systemClock
	aheadMs atomic.Int64
}

// Now implements Clock.
func (c *stallClock) Now() cluster.Instant {
	now, ahead := c.base.Now(), c.aheadMs.Load()
	return cluster.Instant{WallMs: now.WallMs + ahead, MonoMs: now.MonoMs + ahead}
}

// TestOneNodeLeaseOutlastsStalledHeartbeats: a one-node cluster's broker
// gets its lease from its own controller, the metadata quorum's only
// voter, which alone may fence it and does so only after
// broker.session.timeout.ms. So when its heartbeats stall, here 3 s of a
// starved process at once (the lease's old length was two heartbeat
// intervals less the drift margin: 900 ms), the lease still holds and
// FindCoordinator names the node instead of answering
// COORDINATOR_NOT_AVAILABLE, as it did under heavy load.
func TestOneNodeLeaseOutlastsStalledHeartbeats(t *testing.T) {
	clock := &stallClock{base: newSystemClock()}
	c := newTestCluster(t, 1, 0, func(_ int, cfg *Config) {
		cfg.Clock = clock
		cfg.Groups.OffsetsTopicPartitions, cfg.Groups.OffsetsTopicReplicationFactor = 1, 1
		cfg.BrokerHeartbeatIntervalMs, cfg.BrokerSessionTimeoutMs = 500, 6000
	})
	c.startAll()
	n := c.node(0)
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n)
	find := func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = "g", []string{"g"}
		resp, err := req.RequestWith(ctx, cl.Broker(1))
		switch {
		case err != nil:
			t.Fatalf("FindCoordinator: %v", err)
		case len(resp.Coordinators) == 1:
			return resp.Coordinators[0].ErrorCode
		}
		return resp.ErrorCode
	}
	// The first FindCoordinator creates __consumer_offsets; the node names
	// itself once its coordinator loaded.
	waitFor(t, 30*time.Second, "the node to name itself the group's coordinator", func() bool { return find() == 0 })

	// Just after a heartbeat's answer, the next half a second away, the
	// process stalls for 3 s.
	answered := n.lease.current.Load()
	waitFor(t, 10*time.Second, "a heartbeat answered", func() bool { return n.lease.current.Load() != answered })
	clock.aheadMs.Store(3000)
	if !n.leaseHolds() {
		l := n.lease.current.Load()
		until, _ := l.UntilMs(n.leadershipHold.Load())
		t.Fatalf("the lease lapsed at %d ms after a stall of 3 s (now %d ms)", until, clock.Now().MonoMs)
	}
	if code := find(); code != 0 {
		t.Fatalf("FindCoordinator after a stall of 3 s: %v, want the node", kerr.ErrorForCode(code))
	}
}

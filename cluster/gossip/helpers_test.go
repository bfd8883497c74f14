package gossip

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// recorder keeps the events a node delivered, with when they came.
type recorder struct {
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	Event
	at time.Time
}

func (r *recorder) onEvent(e Event) {
	r.mu.Lock()
	r.events = append(r.events, recorded{e, time.Now()})
	r.mu.Unlock()
}

// find returns the first event after since that matches.
func (r *recorder) find(since time.Time, match func(Event) bool) (recorded, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if !e.at.Before(since) && match(e.Event) {
			return e, true
		}
	}
	return recorded{}, false
}

// wait waits up to timeout for an event after since that matches.
func (r *recorder) wait(t testing.TB, what string, since time.Time, timeout time.Duration, match func(Event) bool) recorded {
	t.Helper()
	var got recorded
	waitFor(t, what, timeout, func() bool {
		var ok bool
		got, ok = r.find(since, match)
		return ok
	})
	return got
}

// is matches an event kind about a node id.
func is(kind EventKind, nodeID int32) func(Event) bool {
	return func(e Event) bool { return e.Kind == kind && e.Member.NodeID == nodeID }
}

// testNode is a started node and its events.
type testNode struct {
	*Node
	rec *recorder
}

// startNode starts node id on a free loopback port with the fast timings
// (or bind, when given); it is shut down when the test ends.
func startNode(t testing.TB, id int32, bind string) *testNode {
	t.Helper()
	return startNodeWith(t, id, func(c *Config) {
		if bind != "" {
			c.BindAddress = bind
		}
	})
}

// startNodeWith is startNode on 127.0.0.1:0 with its configuration changed
// by change first.
func startNodeWith(t testing.TB, id int32, change func(*Config)) *testNode {
	t.Helper()
	rec := &recorder{}
	cfg := Config{
		NodeID: id,
		Tags: Tags{
			ClientAddress:     fmt.Sprintf("127.0.0.1:%d", 29900+id),
			ControllerAddress: fmt.Sprintf("127.0.0.1:%d", 30000+id),
			Rack:              "r1",
		},
		BindAddress: "127.0.0.1:0",
		Timings:     fastTimings(),
		OnEvent:     rec.onEvent,
		Logger:      zaptest.NewLogger(t, zaptest.Level(zapcore.WarnLevel)),
	}
	change(&cfg)
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return &testNode{Node: n, rec: rec}
}

// startCluster starts nodes 1..count, the others joining through node 1, and
// waits until every node sees every other alive.
func startCluster(t testing.TB, count int) []*testNode {
	t.Helper()
	nodes := []*testNode{startNode(t, 1, "")}
	for id := int32(2); id <= int32(count); id++ {
		n := startNode(t, id, "")
		if err := joinRetrying(t, n, nodes[0].Address()); err != nil {
			t.Fatalf("node %d join: %v", id, err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		waitLive(t, n, count)
	}
	return nodes
}

// waitLive waits until n sees want live members.
func waitLive(t testing.TB, n *testNode, want int, ids ...int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d live members", want), 10*time.Second, func() bool {
		live := n.LiveMembers()
		if len(live) != want {
			return false
		}
		for _, id := range ids {
			if !hasMember(live, id) {
				return false
			}
		}
		return true
	})
}

func hasMember(members []Member, id int32) bool {
	for _, m := range members {
		if m.NodeID == id {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition with a deadline
	}
}

// waitNoGossipGoroutines waits until no goroutine of serf, memberlist or
// this package runs.
func waitNoGossipGoroutines(t testing.TB) {
	t.Helper()
	frames := []string{"hashicorp/serf", "hashicorp/memberlist", "gregor/cluster/gossip.("}
	var left string
	deadline := time.Now().Add(10 * time.Second)
	for {
		left = ""
		buf := make([]byte, 4<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			for _, f := range frames {
				if strings.Contains(g, f) && !strings.Contains(g, "waitNoGossipGoroutines") {
					left = g
				}
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a gossip goroutine is left after Shutdown:\n%s", left)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// joinRetrying joins n through addr, trying again while the join only timed
// out: the fast timings' 200 ms TCP timeout can pass on a loaded machine
// under -race before the push-pull exchange ends. Any other error (a refusal)
// is returned at once.
func joinRetrying(t testing.TB, n *testNode, addr string) error {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := n.Join(addr)
		if err == nil || !strings.Contains(err.Error(), "i/o timeout") || time.Now().After(deadline) {
			return err
		}
		t.Logf("join through %s timed out, trying again: %v", addr, err)
	}
}

// fastTimings are for tests on loopback: failures reported in about half a
// second, departed members reaped after about a second; a node that cannot
// refute a suspicion within 300 ms (a test binary under -race on a loaded
// machine) may be reported failed by mistake. Too eager outside tests.
func fastTimings() Timings {
	return Timings{
		ProbeInterval:           100 * time.Millisecond,
		ProbeTimeout:            50 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          10 * time.Millisecond,
		PushPullInterval:        time.Second,
		TCPTimeout:              200 * time.Millisecond,
		GossipToTheDeadTime:     time.Second,
		DeadNodeReclaimTime:     100 * time.Millisecond,
		ReapInterval:            200 * time.Millisecond,
		ReconnectInterval:       100 * time.Millisecond,
		ReconnectTimeout:        time.Second,
		TombstoneTimeout:        time.Second,
		LeavePropagateDelay:     50 * time.Millisecond,
		BroadcastTimeout:        500 * time.Millisecond,
	}
}

package gossip

import (
	"errors"
	"testing"
	"time"
)

func TestThreeNodesJoin(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, n := range nodes {
		for _, id := range []int32{1, 2, 3} {
			if id == n.cfg.NodeID {
				continue
			}
			n.rec.wait(t, "joined", time.Time{}, 5*time.Second, is(MemberJoined, id))
		}
	}
	live := nodes[0].LiveMembers()
	for i, m := range live {
		id := int32(i + 1)
		if m.NodeID != id || m.Name != NodeName(id) || m.Status != StatusAlive || m.Tags.Rack != "r1" ||
			m.Tags.ClientAddress == "" || m.Tags.ControllerAddress == "" || m.GossipAddress != nodes[i].Address() {
			t.Fatalf("member %d: %+v", id, m)
		}
	}
}

func TestTagUpdate(t *testing.T) {
	nodes := startCluster(t, 3)
	since := time.Now()
	tags := Tags{ClientAddress: "10.0.0.2:9092", ControllerAddress: "10.0.0.2:9093", Rack: "r9"}
	if err := nodes[1].SetTags(tags); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{nodes[0], nodes[2]} {
		// Updated, or Joined when news of a rejoin was still pending.
		n.rec.wait(t, "updated", since, 5*time.Second, func(e Event) bool {
			return e.Member.NodeID == 2 && (e.Kind == MemberUpdated || e.Kind == MemberJoined) && e.Member.Tags == tags
		})
	}
}

// A crash (Shutdown without Leave) is reported as failed within a bound, then
// reaped. (That live nodes are not reported failed under load is measured
// with the production timings in gossip_measure_test.go; the fast timings
// are too eager for that under -race on a busy machine.)
func TestCrashReportedFailed(t *testing.T) {
	nodes := startCluster(t, 3)
	crashed := time.Now()
	_ = nodes[2].Shutdown()
	const bound = 3 * time.Second
	for _, n := range nodes[:2] {
		e := n.rec.wait(t, "failed", crashed, bound, is(MemberFailed, 3))
		t.Logf("node %d reported node 3 failed %v after the crash", n.cfg.NodeID, e.at.Sub(crashed))
		waitLive(t, n, 2, 1, 2)
		n.rec.wait(t, "reaped", crashed, 10*time.Second, is(MemberReaped, 3))
	}
}

func TestGracefulLeave(t *testing.T) {
	nodes := startCluster(t, 3)
	since := time.Now()
	if err := nodes[1].Leave(); err != nil {
		t.Fatal(err)
	}
	_ = nodes[1].Shutdown()
	for _, n := range []*testNode{nodes[0], nodes[2]} {
		n.rec.wait(t, "left", since, 5*time.Second, is(MemberLeft, 2))
		waitLive(t, n, 2, 1, 3)
		n.rec.wait(t, "reaped", since, 10*time.Second, is(MemberReaped, 2))
		if _, ok := n.rec.find(since, is(MemberFailed, 2)); ok {
			t.Errorf("node %d reported the node that left as failed", n.cfg.NodeID)
		}
	}
}

// A crashed node restarted under its name rejoins: on its old address, and
// on a new one once its old incarnation was reported dead.
func TestRestartRejoinsUnderItsName(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, sameAddress := range []bool{true, false} {
		old := nodes[2]
		crashed := time.Now()
		_ = old.Shutdown()
		nodes[0].rec.wait(t, "failed", crashed, 5*time.Second, is(MemberFailed, 3))
		bind := ""
		if sameAddress {
			bind = old.Address()
		}
		restarted := startNode(t, 3, bind)
		waitFor(t, "the restarted node to join", 10*time.Second, func() bool {
			_, err := restarted.Join(nodes[0].Address())
			if err != nil {
				t.Logf("join: %v", err)
			}
			return err == nil
		})
		e := nodes[0].rec.wait(t, "rejoined", crashed, 10*time.Second, is(MemberJoined, 3))
		if e.Member.GossipAddress != restarted.Address() {
			t.Fatalf("rejoined at %s, want %s", e.Member.GossipAddress, restarted.Address())
		}
		for _, n := range []*testNode{nodes[0], nodes[1], restarted} {
			waitLive(t, n, 3, 1, 2, 3)
		}
		nodes[2] = restarted
	}
}

// A second live node with an id in use is refused, whichever node it joins
// through; the running node stays and reports the conflict when it is the
// one contacted.
func TestDuplicateNodeIDRefused(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, via := range []*testNode{nodes[0], nodes[1]} {
		dup := startNode(t, 1, "")
		err := joinRetrying(t, dup, via.Address())
		if !errors.Is(err, ErrNameConflict) {
			t.Fatalf("duplicate of node 1 joining through node %d: %v", via.cfg.NodeID, err)
		}
		t.Logf("refused: %v", err)
		dup.rec.wait(t, "name conflict", time.Time{}, 5*time.Second, func(e Event) bool {
			return e.Kind == NameConflict && e.Member.GossipAddress == nodes[0].Address()
		})
		if via == nodes[0] {
			nodes[0].rec.wait(t, "name conflict", time.Time{}, 5*time.Second, func(e Event) bool {
				return e.Kind == NameConflict && e.Member.GossipAddress == dup.Address()
			})
		}
		_ = dup.Shutdown()
	}
	for _, n := range nodes {
		waitFor(t, "node 1 at its own address everywhere", 10*time.Second, func() bool {
			live := n.LiveMembers()
			return len(live) == 3 && live[0].GossipAddress == nodes[0].Address()
		})
	}
}

func TestNoGoroutineLeakAfterShutdown(t *testing.T) {
	nodes := startCluster(t, 3)
	_ = nodes[2].Shutdown() // a crash
	nodes[0].rec.wait(t, "failed", time.Time{}, 5*time.Second, is(MemberFailed, 3))
	_ = nodes[1].Leave()
	for _, n := range nodes {
		if err := n.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	waitNoGossipGoroutines(t)
}

// News about one member coalesces, keeping its place; a join followed by an
// update stays a join.
func TestEventQueueCoalescesPerMember(t *testing.T) {
	q := newEventQueue()
	m := func(id int32, rack string) Member {
		return Member{NodeID: id, Name: NodeName(id), Tags: Tags{Rack: rack}}
	}
	q.push("a", Event{MemberJoined, m(1, "r1")})
	q.push("b", Event{MemberFailed, m(2, "")})
	q.push("a", Event{MemberUpdated, m(1, "r2")})
	q.push("b", Event{MemberJoined, m(2, "r3")})
	q.push("c", Event{MemberLeft, m(3, "")})
	q.push("c", Event{MemberReaped, m(3, "")})
	want := []Event{{MemberJoined, m(1, "r2")}, {MemberJoined, m(2, "r3")}, {MemberReaped, m(3, "")}}
	for i, w := range want {
		got, ok := q.pop()
		if !ok || got != w {
			t.Fatalf("event %d: %+v, want %+v", i, got, w)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("more events than members")
	}
}

func TestConfigChecks(t *testing.T) {
	bad := []Config{
		{NodeID: -1, BindAddress: "127.0.0.1:0"},
		{NodeID: 1},
		{NodeID: 1, BindAddress: "127.0.0.1"},
		{NodeID: 1, BindAddress: "127.0.0.1:0", AdvertiseAddress: "x"},
		{NodeID: 1, BindAddress: "127.0.0.1:0", Timings: Timings{ProbeInterval: time.Second}},
	}
	for _, cfg := range bad {
		if n, err := Start(cfg); err == nil {
			_ = n.Shutdown()
			t.Errorf("%+v accepted", cfg)
		}
	}
}

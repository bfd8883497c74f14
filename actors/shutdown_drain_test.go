package actors

import (
	"net"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

func drainedYet(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A drain waits for the connections that carried a member's request
// within its window, each until it is told NOT_COORDINATOR or closes; a
// connection quiet for longer, or told before the drain (its groups moved
// earlier) and not back since, is not waited for.
func TestCoordinatorConnsDrain(t *testing.T) {
	var cc coordinatorConns
	a, b, old := &netio.ConnInfo{ID: 1}, &netio.ConnInfo{ID: 2}, &netio.ConnInfo{ID: 3}
	movedEarlier, back := &netio.ConnInfo{ID: 4}, &netio.ConnInfo{ID: 5}
	cc.sent(old, "c", 1_000)
	cc.sent(a, "c", 9_000)
	b.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	cc.sent(b, "b-client", 9_500)
	cc.sent(movedEarlier, "c", 8_000)
	cc.told(movedEarlier)
	cc.sent(back, "c", 8_000)
	cc.told(back)
	cc.sent(back, "c", 9_000)
	drained, waiting := cc.beginDrain(10_000, 5_000)
	if waiting != 3 {
		t.Fatalf("waiting for %d connections, want 3 (a, b and back; old was quiet for 9 s, movedEarlier was told)", waiting)
	}
	cc.closed(back)
	cc.told(old)
	cc.told(a)
	if drainedYet(drained) {
		t.Fatal("drained before b was told")
	}
	if got := cc.notTold(); !slices.Equal(got, []string{"127.0.0.1:40000 b-client"}) {
		t.Fatalf("not told: %q, want b's address and client id", got)
	}
	cc.closed(b)
	if !drainedYet(drained) {
		t.Fatal("not drained once a was told and b closed")
	}
	cc.told(a) // again: harmless
}

// Nothing recent: the drain is over at once.
func TestCoordinatorConnsDrainWithNothingToWaitFor(t *testing.T) {
	var cc coordinatorConns
	drained, waiting := cc.beginDrain(10_000, 5_000)
	if waiting != 0 || !drainedYet(drained) {
		t.Fatalf("waiting %d, drained %v; want 0 and drained", waiting, drainedYet(drained))
	}
}

// Only a member's own requests (joins, syncs, heartbeats) count: an offset
// commit shares sarama's connection with its heartbeats, and telling it
// NOT_COORDINATOR does not tell the heartbeat loop.
func TestMembershipRequests(t *testing.T) {
	for _, tc := range []struct {
		body kmsg.Request
		want bool
	}{
		{&kmsg.HeartbeatRequest{}, true},
		{&kmsg.ConsumerGroupHeartbeatRequest{}, true},
		{&kmsg.JoinGroupRequest{}, true},
		{&kmsg.SyncGroupRequest{}, true},
		{&kmsg.OffsetCommitRequest{}, false},
		{&kmsg.OffsetFetchRequest{}, false},
		{&kmsg.LeaveGroupRequest{}, false},
	} {
		if got := membershipRequest(tc.body); got != tc.want {
			t.Errorf("%T: %v, want %v", tc.body, got, tc.want)
		}
	}
}

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

// everywhere: every group's coordinator moved to another live broker.
func everywhere(string) bool { return true }

// A drain waits for the members that sent a request of their own within
// its window, each until it is told NOT_COORDINATOR or its connection
// closes; a member quiet for longer, or told before the drain (its group
// moved earlier) and not back since, is not waited for.
func TestCoordinatorConnsDrain(t *testing.T) {
	var cc coordinatorConns
	a, b, old := &netio.ConnInfo{ID: 1}, &netio.ConnInfo{ID: 2}, &netio.ConnInfo{ID: 3}
	movedEarlier, back := &netio.ConnInfo{ID: 4}, &netio.ConnInfo{ID: 5}
	member := func(id string) memberKey {
		return memberKeyOf(&kmsg.HeartbeatRequest{Group: "g", MemberID: id})
	}
	cc.sent(old, member("old"), "c", 1_000)
	cc.sent(a, member("a"), "c", 9_000)
	b.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	cc.sent(b, member("b"), "b-client", 9_500)
	cc.sent(movedEarlier, member("m"), "c", 8_000)
	cc.told(member("m"))
	cc.sent(back, member("back"), "c", 8_000)
	cc.told(member("back"))
	cc.sent(back, member("back"), "c", 9_000)
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
	if waiting != 3 {
		t.Fatalf("waiting for %d members, want 3 (a, b and back; old was quiet for 9 s, m was told)", waiting)
	}
	cc.closed(back)
	cc.told(member("old"))
	cc.told(member("a"))
	if drainedYet(drained) {
		t.Fatal("drained before b was told")
	}
	if got := cc.notTold(); !slices.Equal(got, []string{"127.0.0.1:40000 b-client g b"}) {
		t.Fatalf("not told: %q, want b's address, client id, group and id", got)
	}
	cc.closed(b)
	if !drainedYet(drained) {
		t.Fatal("not drained once a was told and b closed")
	}
	cc.told(member("a")) // again: harmless
}

// franz-go sends a member's joins and syncs on a connection of their own
// and its heartbeats on another: once its heartbeat is told
// NOT_COORDINATOR, the member has learnt, though its join connection
// carries nothing until its next rebalance. A first join (no member id
// yet) is not waited for.
func TestCoordinatorConnsDrainCountsMembersNotConnections(t *testing.T) {
	var cc coordinatorConns
	joins, heartbeats := &netio.ConnInfo{ID: 1}, &netio.ConnInfo{ID: 2}
	first := &netio.ConnInfo{ID: 3}
	cc.sent(first, memberKeyOf(&kmsg.JoinGroupRequest{Group: "g"}), "c", 9_000)
	cc.sent(joins, memberKeyOf(&kmsg.JoinGroupRequest{Group: "g", MemberID: "m"}), "c", 9_000)
	cc.sent(joins, memberKeyOf(&kmsg.SyncGroupRequest{Group: "g", MemberID: "m"}), "c", 9_000)
	cc.sent(heartbeats, memberKeyOf(&kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}), "c", 9_500)
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
	if waiting != 1 {
		t.Fatalf("waiting for %d members, want 1 (m)", waiting)
	}
	cc.told(memberKeyOf(&kmsg.HeartbeatRequest{Group: "g", MemberID: "m"}))
	if !drainedYet(drained) {
		t.Fatalf("not drained once m's heartbeat was told; still waiting for %q", cc.notTold())
	}
}

// A member id is heard no more once its client joined its group again
// with a new id on the same connection (sarama after UNKNOWN_MEMBER_ID),
// or once it left (LeaveGroup, one member before v3, a list since): the
// drain does not wait for it.
func TestCoordinatorConnsDrainForgetsReplacedAndLeftMembers(t *testing.T) {
	var cc coordinatorConns
	conn, other := &netio.ConnInfo{ID: 1}, &netio.ConnInfo{ID: 2}
	key := func(id string) memberKey { return memberKeyOf(&kmsg.HeartbeatRequest{Group: "g", MemberID: id}) }
	cc.sent(conn, key("old"), "c", 9_000)
	cc.sent(conn, memberKeyOf(&kmsg.JoinGroupRequest{Group: "g", MemberID: "new"}), "c", 9_100)
	cc.sent(other, key("x"), "c", 9_000)
	cc.sent(other, key("y"), "c", 9_000) // replaces x too: one member per group and connection
	cc.sent(other, memberKeyOf(&kmsg.HeartbeatRequest{Group: "h", MemberID: "z"}), "c", 9_000)
	cc.sent(other, memberKeyOf(&kmsg.HeartbeatRequest{Group: "i", MemberID: "w"}), "c", 9_000)
	cc.left("h", leavingMembers(&kmsg.LeaveGroupRequest{Version: 1, Group: "h", MemberID: "z"}))
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
	if waiting != 3 {
		t.Fatalf("waiting for %d members (%q), want 3 (new, y, w)", waiting, cc.notTold())
	}
	leave := &kmsg.LeaveGroupRequest{Version: 3, Group: "i"}
	leave.Members = append(leave.Members, kmsg.LeaveGroupRequestMember{MemberID: "w"})
	cc.left("i", leavingMembers(leave))
	cc.told(memberKeyOf(&kmsg.SyncGroupRequest{Group: "g", MemberID: "new"}))
	if drainedYet(drained) {
		t.Fatal("drained before y was told")
	}
	cc.told(key("y"))
	if !drainedYet(drained) {
		t.Fatalf("not drained; still waiting for %q", cc.notTold())
	}
}

// Members whose group's coordinator went to no other active broker (the
// one that took it is stopping too) are not waited for, at the drain's
// start or once the broker that took it begins to stop.
func TestCoordinatorConnsDrainSkipsCoordinatorsThatWentNowhere(t *testing.T) {
	var cc coordinatorConns
	conn := &netio.ConnInfo{ID: 1}
	cc.sent(conn, memberKeyOf(&kmsg.HeartbeatRequest{Group: "nowhere", MemberID: "a"}), "c", 9_000)
	cc.sent(conn, memberKeyOf(&kmsg.HeartbeatRequest{Group: "later", MemberID: "b"}), "c", 9_000)
	moved := map[string]bool{"later": true}
	drained, waiting := cc.beginDrain(10_000, 5_000, func(g string) bool { return moved[g] })
	if waiting != 1 {
		t.Fatalf("waiting for %d members, want 1 (b of group later)", waiting)
	}
	cc.recheck(10_000, func(g string) bool { return moved[g] })
	if drainedYet(drained) {
		t.Fatal("drained while b's coordinator was on an active broker")
	}
	moved["later"] = false
	cc.recheck(10_000, func(g string) bool { return moved[g] })
	if !drainedYet(drained) {
		t.Fatal("not drained once the broker that took b's coordinator stopped being active")
	}
}

// A member whose offset commit was told NOT_COORDINATOR learned the move
// (franz-go, kafka-python) and heartbeats to the new coordinator: the
// drain lets it go once no heartbeat of its came here for half as long
// again as its heartbeats came apart. A member whose heartbeat comes
// here after its commit was told (sarama's loop keeps its coordinator)
// is waited for until that heartbeat is told, as is one whose commit was
// not told, or whose heartbeats' cadence is not known yet.
func TestCoordinatorConnsDrainLetsGoMembersToldThroughTheirCommit(t *testing.T) {
	var cc coordinatorConns
	conns := map[string]*netio.ConnInfo{}
	member := func(id string) memberKey {
		return memberKeyOf(&kmsg.HeartbeatRequest{Group: "g", MemberID: id})
	}
	beat := func(id string, atMs int64) {
		if conns[id] == nil {
			conns[id] = &netio.ConnInfo{ID: uint64(len(conns) + 1)}
		}
		cc.sent(conns[id], member(id), "c", atMs)
		cc.heartbeated(member(id), atMs)
	}
	for _, at := range []int64{3_000, 6_000, 9_000} {
		beat("franz", at)
		beat("sarama", at+500)
		beat("quiet", at)
	}
	beat("once", 9_000)
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
	if waiting != 4 {
		t.Fatalf("waiting for %d members, want 4", waiting)
	}
	cc.commitTold(member("franz"))
	cc.commitTold(member("sarama"))
	cc.commitTold(member("once"))
	cc.recheck(13_499, everywhere)
	if got := cc.notTold(); len(got) != 4 {
		t.Fatalf("let go before 1.5 heartbeat intervals passed: waiting for %q", got)
	}
	// sarama's next heartbeat comes here, on time.
	beat("sarama", 12_500)
	if learned := cc.recheck(13_500, everywhere); !slices.Equal(learned, []string{"? c g franz"}) {
		t.Fatalf("let go %q, want franz", learned)
	}
	want := []string{"? c g once", "? c g quiet", "? c g sarama"}
	if got := cc.notTold(); !slices.Equal(got, want) {
		t.Fatalf("waiting for %q, want %q (franz let go)", got, want)
	}
	cc.recheck(20_000, everywhere)
	if got := cc.notTold(); !slices.Equal(got, want) {
		t.Fatalf("waiting for %q, want %q", got, want)
	}
	cc.told(member("sarama"))
	cc.told(member("quiet"))
	cc.told(member("once"))
	if !drainedYet(drained) {
		t.Fatal("not drained once every member was told or let go")
	}
}

// Nothing recent: the drain is over at once.
func TestCoordinatorConnsDrainWithNothingToWaitFor(t *testing.T) {
	var cc coordinatorConns
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
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

// A member that joined just before the stop is let go as soon as one that
// heartbeated for long: its SyncGroup's answer starts its heartbeats, so
// its first heartbeat here gives its interval; a KIP-848 member's interval
// is what the coordinator told it. Before, two heartbeats here were needed,
// and such a member was waited for until the drain's bound.
func TestCoordinatorConnsDrainLetsGoMembersThatJustJoined(t *testing.T) {
	var cc coordinatorConns
	conn := &netio.ConnInfo{ID: 1}
	classic := memberKeyOf(&kmsg.SyncGroupRequest{Group: "g", MemberID: "classic"})
	cc.sent(conn, classic, "c", 6_000) // its SyncGroup
	cc.synced(classic, 6_100)
	cc.sent(conn, classic, "c", 9_100) // its first heartbeat
	cc.heartbeated(classic, 9_100)
	modern := memberKeyOf(&kmsg.ConsumerGroupHeartbeatRequest{Group: "h", MemberID: "modern"})
	cc.sent(conn, modern, "c", 9_000) // its join: the first heartbeat
	cc.heartbeated(modern, 9_000)
	cc.toldInterval(modern, 2_000)
	drained, waiting := cc.beginDrain(10_000, 5_000, everywhere)
	if waiting != 2 {
		t.Fatalf("waiting for %d members, want 2", waiting)
	}
	cc.commitTold(classic)
	cc.commitTold(modern)
	if learned := cc.recheck(11_999, everywhere); len(learned) != 0 {
		t.Fatalf("let go %q before 1.5 heartbeat intervals passed", learned)
	}
	if learned := cc.recheck(12_000, everywhere); !slices.Equal(learned, []string{"? c h modern"}) {
		t.Fatalf("let go %q at 12,000 ms, want the KIP-848 member (heartbeat at 9,000, interval 2,000)", learned)
	}
	if learned := cc.recheck(13_599, everywhere); len(learned) != 0 {
		t.Fatalf("let go %q before 1.5 heartbeat intervals passed", learned)
	}
	if learned := cc.recheck(13_600, everywhere); !slices.Equal(learned, []string{"? c g classic"}) {
		t.Fatalf("let go %q at 13,600 ms, want the classic member (synced at 6,100, heartbeat at 9,100)", learned)
	}
	if !drainedYet(drained) {
		t.Fatal("not drained once every member was let go")
	}
}

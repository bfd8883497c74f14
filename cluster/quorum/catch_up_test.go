package quorum

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestCatchUpMarkSplitsTheElectorate checks catchUpIgnores: a candidate
// past its bootstrap is elected either by voters that are not catching up
// (unmarked requests) or by voters that all are (marked ones), never by a
// mix, so a voter that lost its log never helps elect a leader of the
// formed quorum, nor a formed quorum's voter one that lost its log.
func TestCatchUpMarkSplitsTheElectorate(t *testing.T) {
	request := func(typ raftpb.MessageType, index uint64, ctx string) *raftpb.Message {
		m := &raftpb.Message{Type: typ.Enum(), Index: proto.Uint64(index)}
		if ctx != "" {
			m.Context = []byte(ctx)
		}
		return m
	}
	for _, c := range []struct {
		catchingUp bool
		m          *raftpb.Message
		ignores    bool
	}{
		{false, request(raftpb.MsgVote, 5, ""), false},
		{false, request(raftpb.MsgPreVote, 5, catchUpMark), true},
		{false, request(raftpb.MsgVote, 5, catchUpMark), true},
		{false, request(raftpb.MsgVote, 5, campaignTransfer), false},
		{false, request(raftpb.MsgVote, 1, ""), false},
		{true, request(raftpb.MsgVote, 5, ""), true},
		{true, request(raftpb.MsgPreVote, 5, ""), true},
		{true, request(raftpb.MsgVote, 5, campaignTransfer), true},
		{true, request(raftpb.MsgPreVote, 5, catchUpMark), false},
		{true, request(raftpb.MsgVote, 5, catchUpMark), false},
		{true, request(raftpb.MsgVote, 1, ""), false},
		{true, request(raftpb.MsgApp, 5, ""), false},
	} {
		q := &Quorum{catchingUp: c.catchingUp}
		if got := q.catchUpIgnores(c.m); got != c.ignores {
			t.Errorf("catching up %v, %s at index %d, context %q: ignores %v, want %v",
				c.catchingUp, c.m.GetType(), c.m.GetIndex(), c.m.GetContext(), got, c.ignores)
		}
	}
}

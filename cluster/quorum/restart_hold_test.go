package quorum

import (
	"fmt"
	"testing"
	"testing/cryptotest"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A voter that restarts right after answering the leader's heartbeat has
// forgotten its leader; were it to vote at once, a voter the leader cannot
// reach would win an election inside the leader's hold. Voter b answers
// the leader's heartbeats (so the leader holds, with b, a majority of
// three); voter c is cut off from the leader and keeps asking for votes,
// which b refuses while it hears from its leader. Just as c asks again, b
// crashes, restarts and is cut off from the leader too. The hold check
// (after every Ready) fails if c leads before the leader's hold ended; b
// or c must still lead once it has.
func TestRestartedVoterGrantsNoVoteInsideTheHold(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 40+seed)
			c := newTestCluster(t, clusterOptions{voters: []int32{1, 2, 3}, seed: 40 + seed})
			c.runUntil(3000, "a leader", func() bool { return c.activeLeader() != nil })
			proposeAndConverge(t, c, 3, 3000)
			leader := c.activeLeader()
			var b, cut *testNode
			for _, n := range c.nodes {
				switch {
				case n == leader:
				case b == nil:
					b = n
				default:
					cut = n
				}
			}
			term := leader.leadership.LeaderEpoch
			c.net.cut[[2]int32{leader.id, cut.id}] = true
			c.net.cut[[2]int32{cut.id, leader.id}] = true
			// c asks for votes and b refuses them for a while.
			c.run(3000)
			if l := c.activeLeader(); l != leader || l.leadership.LeaderEpoch != term {
				t.Fatalf("leadership moved while b heard from the leader:\n%s", c.status())
			}
			c.runUntil(3000, "c asking b for its vote", func() bool { return c.preVoteInFlight(cut.id, b.id) })
			if hold := leader.q.LeadershipHoldsUntilMs() - leader.monoOffset; hold <= c.now {
				t.Fatalf("the leader holds until %d ms, now is %d ms", hold, c.now)
			}
			checked := c.stats.holdsChecked
			c.crash(b)
			c.restart(b)
			c.isolate(leader.id)
			c.runUntil(5000, "b or c leading", func() bool {
				l := c.activeLeader()
				return l != nil && l != leader && l.leadership.LeaderEpoch > term
			})
			if c.stats.holdsChecked == checked {
				t.Fatal("no hold was checked when c started to lead")
			}
		})
	}
}

// preVoteInFlight says whether a pre-vote request from one node to another
// is on its way.
func (c *testCluster) preVoteInFlight(from, to int32) bool {
	for _, m := range c.net.inflight {
		if m.from != from || m.to != to {
			continue
		}
		msg := &raftpb.Message{}
		if err := proto.Unmarshal(m.data, msg); err != nil {
			c.t.Fatal(err)
		}
		if msg.GetType() == raftpb.MsgPreVote {
			return true
		}
	}
	return false
}

package quorum

import (
	"fmt"
	"math"
	"testing"
	"testing/cryptotest"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// noteHold records until when a leader says no other node can lead. A
// leader handing its leadership on holds no more from then (a shell tells
// its controller at once): the transferee campaigns past the voters'
// check-quorum, so what the leader said before no longer binds the next.
func (c *testCluster) noteHold(n *testNode) {
	if c.holds == nil {
		c.holds = map[uint64]int64{}
	}
	st := n.q.rn.BasicStatus()
	term := st.GetTerm()
	if st.LeadTransferee != raft.None {
		if hold, ok := c.holds[term]; ok {
			c.holds[term] = min(hold, c.now)
		}
		return
	}
	hold := n.q.LeadershipHoldsUntilMs()
	if hold <= 0 || hold == math.MaxInt64 {
		return
	}
	c.holds[term] = max(c.holds[term], hold-n.monoOffset)
	c.stats.holds++
}

// checkHolds fails when a node starts to lead while the leader of an
// earlier term still said no other node could.
func (c *testCluster) checkHolds(l Leadership) {
	for term, until := range c.holds {
		if term < l.LeaderEpoch && until > c.now {
			c.t.Fatalf("at %d ms n%d leads term %d, but the leader of term %d said no other node could lead before %d ms",
				c.now, l.LeaderID, l.LeaderEpoch, term, until)
		}
		if term < l.LeaderEpoch && until > 0 {
			c.stats.holdsChecked++
		}
	}
}

// A leader's hold (LeadershipHoldsUntilMs) ends before any other node
// leads, under partitions, drops and crashes; and while nothing fails it
// stays ahead of the clock. The check runs after every Ready in every
// quorum test of this package; here it runs over more leadership changes.
func TestLeadershipHoldEndsBeforeAnotherLeads(t *testing.T) {
	seeds := 24
	if raceDetector {
		seeds = 6
	}
	var checked int
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, seed)
			c := randomFaults(t, 1000+seed, 30_000, false)
			checked += c.stats.holdsChecked
			l := c.activeLeader()
			if hold := l.q.LeadershipHoldsUntilMs(); len(l.membership.Voters) > 1 && hold <= c.instant(l).MonoMs {
				t.Fatalf("the leader of a healthy quorum holds until %d ms, now is %d ms", hold, c.instant(l).MonoMs)
			}
		})
	}
	t.Logf("%d earlier holds checked at a new leader", checked)
	if checked == 0 {
		t.Fatal("no new leader started after an earlier leader's hold")
	}
}

// A new leader knows its hold as soon as its voters answer its first
// message: it sends its marked heartbeat when it starts to lead, not at
// its next heartbeat tick. Its controller refuses broker heartbeats until
// then (cluster.Controller.LeadershipHolds), so a late hold is a pause in
// every broker's lease at each controller failover.
func TestNewLeaderHoldsWithinARoundTrip(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			cryptotest.SetGlobalRandom(t, 60+seed)
			c := newTestCluster(t, clusterOptions{voters: []int32{1, 2, 3}, seed: 60 + seed})
			c.runUntil(3000, "a leader", func() bool { return c.activeLeader() != nil })
			c.crash(c.activeLeader())
			var l *testNode
			c.runUntil(3000, "another leader", func() bool {
				for _, n := range c.nodes {
					if n.up && n.q.rn.BasicStatus().RaftState == raft.StateLeader {
						l = n
						return true
					}
				}
				return false
			})
			// The other voter answers within two of the network's delays
			// (at most 5 ms each), so within two steps of 10 ms; the next
			// heartbeat tick is up to 50 ms away.
			started := c.now
			c.runUntil(1000, "the new leader's hold", func() bool {
				return l.q.LeadershipHoldsUntilMs() > c.instant(l).MonoMs
			})
			if took := c.now - started; took > 2*stepMs {
				t.Fatalf("the new leader held %d ms after it started to lead, want at most %d ms", took, 2*stepMs)
			}
		})
	}
}

// A leader deposed by a later term's answer to its heartbeat (a voter that
// campaigns answers a stale leader with its term) grants that candidate no
// vote before its hold passed: it counted itself among the majority that
// elects no other leader before then. Raft alone steps it down to a
// follower with no leader and grants the vote at once (the simulator's
// seed 1401 elected a new leader 0.8 s inside the old one's hold).
func TestDeposedLeaderGrantsNoVoteWithinItsHold(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 7)
	c := newTestCluster(t, clusterOptions{voters: []int32{1, 2, 3}, seed: 7})
	c.runUntil(3000, "a leader", func() bool { return c.activeLeader() != nil })
	l := c.activeLeader()
	c.runUntil(1000, "the leader's hold", func() bool { return l.q.LeadershipHoldsUntilMs() > c.instant(l).MonoMs })
	var f *testNode
	for _, n := range c.nodes {
		if n != l {
			f = n
			break
		}
	}
	term := l.q.rn.BasicStatus().GetTerm()
	from, to := raftID(f.id), raftID(l.id)
	answer := &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: &from, To: &to, Term: proto.Uint64(term + 1)}
	if err := l.q.Step(c.instant(l), answer); err != nil {
		t.Fatal(err)
	}
	if st := l.q.rn.BasicStatus(); st.RaftState == raft.StateLeader || st.GetTerm() != term+1 {
		t.Fatalf("the leader did not step down to term %d: %v in term %d", term+1, st.RaftState, st.GetTerm())
	}
	vote := &raftpb.Message{Type: raftpb.MsgVote.Enum(), From: &from, To: &to, Term: proto.Uint64(term + 1),
		LogTerm: proto.Uint64(term), Index: proto.Uint64(1 << 30)}
	if err := l.q.Step(c.instant(l), vote); err != nil {
		t.Fatal(err)
	}
	if v := l.q.rn.BasicStatus().GetVote(); v == from {
		t.Fatalf("the deposed leader voted for n%d in term %d at %d ms, inside its hold until %d ms",
			f.id, term+1, c.instant(l).MonoMs, l.q.heldUntilMs)
	}
}

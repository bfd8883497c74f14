package quorum

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/cockroachdb/datadriven"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestQuorumScripts runs testdata/*.txt: a cluster of quorum cores on the
// deterministic network of cluster_test.go, driven by commands, printing
// what the nodes report (leadership, membership, proposals' fates). The
// cluster's safety checks run after every Ready.
//
//	cluster voters=(1, 2, 3) [learners=(4)] [seed=N] [snapshot-entries=N]
//	        [delay=N]          a new cluster; messages take 1..N ms (5)
//	run [ms=N]                 advance the simulated time (1000 ms)
//	run-until leader|converged [ms=N]
//	                           step until a node leads actively, or until
//	                           every node holds the leader's history
//	propose [n=N] [node=ID|last]
//	                           propose N batches on the active leader (or
//	                           on node ID, or on the node the last isolate
//	                           or crash took, leader or not)
//	add-learner id=N           the active leader adds a learner
//	remove-node id=N           the active leader removes a node
//	transfer id=N              the active leader hands leadership to N
//	hand-off                   the active leader hands leadership to the
//	                           voter furthest along (a graceful shutdown)
//	stopping id=N [awaiting]   node N stops gracefully (Stopping), its
//	                           broker awaiting a controller with awaiting
//	stopping-alone id=N        does node N lead alone among stopping voters
//	                           (StoppingAlone)
//	partition                  cut the network: one group of ids per line
//	isolate id=N|leader|follower
//	                           cut a node off from every other: node N, the
//	                           active leader, or a voter following it
//	cut from=N to=M            cut the link from node N to node M, one way
//	heal                       restore every link
//	hold type=T                hold back every message of type T (as
//	                           MsgTimeoutNow) sent from now on
//	release [type=T]           send on the messages held (of type T), and
//	                           hold them no more
//	pause id=N                 stand node N still: it neither ticks nor
//	                           steps what arrives meanwhile
//	resume id=N                the paused node steps what arrived, in
//	                           order, then ticks on
//	crash id=N|leader|follower power loss: the node loses unsynced writes
//	restart id=N [wipe]        the node recovers its log and rejoins; with
//	                           wipe, its metadata log is gone (a disk
//	                           replaced) and it starts empty
//	campaign ids=(2, 3)        each node campaigns at its first tick after
//	                           its leader's silence lasted an election
//	                           timeout, as raft's shortest draw makes it
//	deliver to=N from=M type=T [term=+K] [reject] [transfer]
//	                           hand node N a raft message of type T (as
//	                           MsgAppResp) from node M, of N's term plus K,
//	                           with M's last log entry (with transfer, a
//	                           leadership transfer's context); print N's view
//	status                     each node's view, and the applied history
//	describe [id=N]            DescribeQuorum as node N (the active leader)
//	                           answers it
func TestQuorumScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		cryptotest.SetGlobalRandom(t, 1)
		s := &quorumScript{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return s.run(t, td)
		})
	})
}

type quorumScript struct {
	c *testCluster
	// last is the node the last isolate or crash took.
	last *testNode
}

// target is the node a command names: id=N, leader or follower.
func (s *quorumScript) target(t *testing.T, td *datadriven.TestData) *testNode {
	switch {
	case td.HasArg("leader"):
		s.last = s.c.activeLeader()
	case td.HasArg("follower"):
		s.last = nil
		l := s.c.activeLeader()
		for _, n := range s.c.nodes {
			if n.up && n.voter && n != l {
				s.last = n
				break
			}
		}
	default:
		var id int
		td.ScanArgs(t, "id", &id)
		s.last = s.c.node(int32(id))
	}
	if s.last == nil {
		td.Fatalf(t, "no such node")
	}
	s.c.out = append(s.c.out, fmt.Sprintf("(n%d)", s.last.id))
	return s.last
}

func (s *quorumScript) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "cluster" && s.c == nil {
		td.Fatalf(t, "no cluster yet")
	}
	if s.c != nil {
		s.c.t, s.c.out = t, nil
	}
	switch td.Cmd {
	case "cluster":
		opts := clusterOptions{voters: ids(t, td, "voters"), learners: ids(t, td, "learners"), seed: 1}
		td.MaybeScanArgs(t, "seed", &opts.seed)
		td.MaybeScanArgs(t, "snapshot-entries", &opts.snapshotEntries)
		td.MaybeScanArgs(t, "delay", &opts.maxDelayMs)
		if opts.maxDelayMs > 0 {
			opts.minDelayMs = 1
		}
		s.c = newTestCluster(t, opts)
	case "run":
		ms := int64(1000)
		td.MaybeScanArgs(t, "ms", &ms)
		s.c.run(ms)
	case "run-until":
		ms := int64(10_000)
		td.MaybeScanArgs(t, "ms", &ms)
		start := s.c.now
		switch {
		case td.HasArg("leader"):
			s.c.runUntil(ms, "a leader", func() bool { return s.c.activeLeader() != nil })
		case td.HasArg("converged"):
			s.c.runUntil(ms, "converged", s.c.converged)
		default:
			td.Fatalf(t, "run-until what?")
		}
		s.c.out = append(s.c.out, fmt.Sprintf("(%d ms)", s.c.now-start))
	case "propose":
		return s.propose(t, td)
	case "add-learner", "remove-node":
		var id int
		td.ScanArgs(t, "id", &id)
		name, err := s.c.changeMembership(td.Cmd == "add-learner", int32(id))
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		return "proposed " + name
	case "transfer":
		var id int
		td.ScanArgs(t, "id", &id)
		l := s.c.activeLeader()
		if l == nil {
			return "no leader"
		}
		if err := l.q.TransferLeadership(int32(id)); err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		s.c.noteHold(l)
	case "hand-off":
		l := s.c.activeLeader()
		if l == nil {
			return "no leader"
		}
		to, err := l.q.HandOffLeadership()
		if err != nil {
			return fmt.Sprintf("error: %v", err)
		}
		s.c.noteHold(l)
		return fmt.Sprintf("n%d hands leadership to %d", l.q.cfg.NodeID, to)
	case "stopping":
		var id int
		td.ScanArgs(t, "id", &id)
		n := s.c.node(int32(id))
		n.q.Stopping(td.HasArg("awaiting"))
		s.c.handleReadies(n)
	case "stopping-alone":
		var id int
		td.ScanArgs(t, "id", &id)
		n := s.c.node(int32(id))
		if committed, ok := n.q.StoppingAlone(); ok {
			return fmt.Sprintf("n%d leads alone among stopping voters, committed offset %d", n.id, committed)
		}
		return fmt.Sprintf("n%d does not", n.id)
	case "partition":
		var groups [][]int32
		for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
			var g []int32
			for _, f := range strings.Fields(line) {
				id, err := strconv.Atoi(f)
				if err != nil {
					td.Fatalf(t, "partition: %v", err)
				}
				g = append(g, int32(id))
			}
			groups = append(groups, g)
		}
		s.c.partition(groups...)
	case "isolate":
		s.c.isolate(s.target(t, td).id)
	case "cut":
		var from, to int
		td.ScanArgs(t, "from", &from)
		td.ScanArgs(t, "to", &to)
		s.c.cut(int32(from), int32(to))
	case "heal":
		s.c.heal()
	case "hold":
		var typ string
		td.ScanArgs(t, "type", &typ)
		mt, ok := raftpb.MessageType_value[typ]
		if !ok {
			td.Fatalf(t, "no message type %q", typ)
		}
		s.c.net.holding = append(s.c.net.holding, raftpb.MessageType(mt))
	case "release":
		var types []raftpb.MessageType
		if td.HasArg("type") {
			var typ string
			td.ScanArgs(t, "type", &typ)
			mt, ok := raftpb.MessageType_value[typ]
			if !ok {
				td.Fatalf(t, "no message type %q", typ)
			}
			types = append(types, raftpb.MessageType(mt))
		}
		s.c.release(types...)
	case "pause":
		s.c.pause(s.target(t, td))
	case "resume":
		var id int
		td.ScanArgs(t, "id", &id)
		s.c.resume(s.c.node(int32(id)))
	case "crash":
		s.c.crash(s.target(t, td))
	case "restart":
		var id int
		td.ScanArgs(t, "id", &id)
		n := s.c.node(int32(id))
		if td.HasArg("wipe") && !n.up {
			if err := n.fs.RemoveAll("data"); err != nil {
				t.Fatal(err)
			}
			s.c.note("n%d: metadata log wiped", n.id)
		}
		s.c.restart(n)
	case "campaign":
		for _, id := range ids(t, td, "ids") {
			s.c.node(id).campaignWhenSilent = true
		}
	case "deliver":
		return s.deliver(t, td)
	case "status":
		return strings.TrimSpace(s.c.status())
	case "describe":
		return s.describe(t, td)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return strings.Join(s.c.out, "\n")
}

func (s *quorumScript) propose(t *testing.T, td *datadriven.TestData) string {
	n := 1
	td.MaybeScanArgs(t, "n", &n)
	var lines []string
	for range n {
		var name string
		var err error
		if arg, ok := td.Arg("node"); ok {
			target := s.last
			if v := arg.SingleVal(t); v != "last" {
				id, err := strconv.Atoi(v)
				if err != nil {
					td.Fatalf(t, "node=%s", v)
				}
				target = s.c.node(int32(id))
			}
			name, err = s.c.proposeOn(target)
		} else {
			name, err = s.c.propose()
		}
		if err != nil {
			lines = append(lines, fmt.Sprintf("error: %v", err))
			continue
		}
		lines = append(lines, "proposed "+name)
	}
	return strings.Join(lines, "\n")
}

func (s *quorumScript) describe(t *testing.T, td *datadriven.TestData) string {
	n := s.c.activeLeader()
	if td.HasArg("id") {
		var id int
		td.ScanArgs(t, "id", &id)
		n = s.c.node(int32(id))
	}
	if n == nil || !n.up {
		return "no node to ask"
	}
	st := n.q.Status()
	var b strings.Builder
	fmt.Fprintf(&b, "node %d: %s, leader %d, epoch %d, high watermark %d\n", st.NodeID, st.Role, st.LeaderID, st.LeaderEpoch, st.HighWatermark)
	for _, group := range []struct {
		name    string
		members []ReplicaStatus
	}{{"voter", st.Voters}, {"observer", st.Observers}} {
		for _, r := range group.members {
			fmt.Fprintf(&b, "%s %d: log end offset %d, last fetch %s, last caught up %s\n",
				group.name, r.NodeID, r.LogEndOffset, sinceStart(r.LastFetchTimestamp), sinceStart(r.LastCaughtUpTimestamp))
		}
	}
	return strings.TrimSpace(b.String())
}

// sinceStart shows a wall timestamp as ms since the run began.
func sinceStart(wallMs int64) string {
	if wallMs < 0 {
		return "never"
	}
	return fmt.Sprintf("at %d ms", wallMs-wallStartMs)
}

// deliver hands a node a message made by hand: what the network of the
// scripts delivers late or out of order only by chance (a paused node's
// stale messages and their answers).
func (s *quorumScript) deliver(t *testing.T, td *datadriven.TestData) string {
	var to, from int
	var typ, delta string
	td.ScanArgs(t, "to", &to)
	td.ScanArgs(t, "from", &from)
	td.ScanArgs(t, "type", &typ)
	td.MaybeScanArgs(t, "term", &delta)
	k := 0
	if delta != "" {
		var err error
		if k, err = strconv.Atoi(delta); err != nil {
			td.Fatalf(t, "term=%s", delta)
		}
	}
	mt, ok := raftpb.MessageType_value[typ]
	if !ok {
		td.Fatalf(t, "no message type %q", typ)
	}
	n, src := s.c.node(int32(to)), s.c.node(int32(from))
	last, err := src.q.storage.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	logTerm, err := src.q.storage.Term(last)
	if err != nil {
		t.Fatal(err)
	}
	term := uint64(int64(n.q.rn.BasicStatus().GetTerm()) + int64(k))
	m := &raftpb.Message{Type: raftpb.MessageType(mt).Enum(), From: proto.Uint64(raftID(src.id)), To: proto.Uint64(raftID(n.id)),
		Term: &term, LogTerm: &logTerm, Index: &last, Reject: proto.Bool(td.HasArg("reject"))}
	if td.HasArg("transfer") {
		m.Context = []byte(campaignTransfer)
	}
	if err := n.q.Step(s.c.instant(n), m); err != nil {
		return fmt.Sprintf("error: %v", err)
	}
	s.c.handleReadies(n)
	st := n.q.rn.BasicStatus()
	view := fmt.Sprintf("n%d: %s in term %d", n.id, strings.TrimPrefix(st.RaftState.String(), "State"), st.GetTerm())
	if st.Lead != raft.None {
		view += fmt.Sprintf(", following %d", nodeID(st.Lead))
	}
	if st.GetVote() != raft.None {
		view += fmt.Sprintf(", voted for %d", nodeID(st.GetVote()))
	}
	return strings.Join(append(s.c.out, view), "\n")
}

func ids(t *testing.T, td *datadriven.TestData, key string) []int32 {
	var vals []int
	td.MaybeScanArgs(t, key, &vals)
	out := make([]int32, len(vals))
	for i, v := range vals {
		out[i] = int32(v)
	}
	return out
}

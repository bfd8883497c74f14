package quorum

import (
	"errors"
	"testing"
	"testing/cryptotest"

	"go.etcd.io/raft/v3/raftpb"

	"gregor/cluster"
	"gregor/logstore/raftlog"
	"gregor/logstore/vfs"
)

func newCore(t *testing.T, cfg Config, st raftlog.State) *Quorum {
	t.Helper()
	q, err := New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// drain carries out every Ready of q with nobody to talk to, saving into
// log when given, and returns them.
func drain(t *testing.T, q *Quorum, log *raftlog.Log) []Ready {
	t.Helper()
	var out []Ready
	for q.HasReady() {
		rd := q.Ready()
		if log != nil {
			if err := log.Save(rd.Persist); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, rd)
		q.Advance()
	}
	return out
}

func TestConfigDefaultsAndChecks(t *testing.T) {
	cfg, err := Config{NodeID: 2, Voters: []int32{3, 1, 2}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ElectionTimeoutMs != 1000 || cfg.HeartbeatIntervalMs != 100 || cfg.TickMs != 100 ||
		cfg.electionTicks() != 10 || cfg.heartbeatTicks() != 1 || cfg.Voters[0] != 1 {
		t.Fatalf("defaults: %+v", cfg)
	}
	for name, bad := range map[string]Config{
		"no voters":          {NodeID: 1},
		"negative node":      {NodeID: -1, Voters: []int32{1}},
		"duplicate voter":    {NodeID: 1, Voters: []int32{1, 1}},
		"heartbeat too long": {NodeID: 1, Voters: []int32{1}, ElectionTimeoutMs: 100, HeartbeatIntervalMs: 100},
		"tick too long":      {NodeID: 1, Voters: []int32{1}, ElectionTimeoutMs: 1000, HeartbeatIntervalMs: 100, TickMs: 200},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Raft's clock moves by whole ticks of monotonic time: a follower that hears
// nobody campaigns only after its election timeout (10 to 19 ticks here),
// whatever the wall clock does.
func TestTicksFollowMonotonicTime(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	q := newCore(t, Config{NodeID: 1, Voters: []int32{1, 2, 3}, ElectionTimeoutMs: 500, HeartbeatIntervalMs: 50}, raftlog.State{})
	drain(t, q, nil)
	if q.NextTickMs() != 0 {
		t.Fatalf("next tick before the first: %d", q.NextTickMs())
	}
	q.Tick(cluster.Instant{WallMs: 5_000, MonoMs: 1_000})
	if got := q.NextTickMs(); got != 1_050 {
		t.Fatalf("next tick %d, want 1050", got)
	}
	campaigned := func() bool {
		for _, rd := range drain(t, q, nil) {
			for _, m := range rd.SendFirst {
				if m.Message.GetType() == raftpb.MsgPreVote {
					return true
				}
			}
		}
		return false
	}
	// 499 ms is 9 ticks; the wall clock jumping an hour changes nothing.
	q.Tick(cluster.Instant{WallMs: 5_000 + 3_600_000, MonoMs: 1_499})
	if campaigned() || q.NextTickMs() != 1_500 {
		t.Fatalf("campaigned, or next tick %d, after 9 ticks", q.NextTickMs())
	}
	// Monotonic time going back is no time.
	q.Tick(cluster.Instant{MonoMs: 900})
	if campaigned() {
		t.Fatal("campaigned when time went back")
	}
	q.Tick(cluster.Instant{MonoMs: 1_000 + 20*50})
	if !campaigned() {
		t.Fatal("no campaign after 20 ticks")
	}
}

func TestProposeChecks(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	follower := newCore(t, Config{NodeID: 1, Voters: []int32{1, 2, 3}}, raftlog.State{})
	drain(t, follower, nil)
	batch := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: "t"}}})
	if _, err := follower.Propose(batch); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("propose on a follower: %v", err)
	}
	if _, err := follower.AddLearner(9); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("add a learner on a follower: %v", err)
	}

	q := newCore(t, Config{NodeID: 1, Voters: []int32{1}, MaxProposalBytes: 64}, raftlog.State{})
	drain(t, q, nil)
	if !q.Leadership().Active {
		t.Fatalf("single voter not active: %+v", q.Leadership())
	}
	for name, data := range map[string][]byte{
		"garbage":     []byte("not a batch"),
		"snapshot":    cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true}),
		"two batches": append(append([]byte(nil), batch...), batch...),
		"too large":   cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: string(make([]byte, 100))}}}),
	} {
		if _, err := q.Propose(data); !errors.Is(err, ErrInvalidProposal) {
			t.Errorf("%s: %v", name, err)
		}
	}
	id, err := q.Propose(batch)
	if err != nil {
		t.Fatal(err)
	}
	var fates []ProposalOutcome
	var committed []CommittedBatch
	for _, rd := range drain(t, q, nil) {
		fates = append(fates, rd.Proposals...)
		committed = append(committed, rd.Committed...)
	}
	if len(fates) != 1 || fates[0] != (ProposalOutcome{ID: id, Fate: ProposalCommitted, Offset: 3}) ||
		len(committed) != 1 || committed[0].Offset != 3 || committed[0].Batch.Records[0].(cluster.TopicRecord).Name != "t" {
		t.Fatalf("fates %+v, committed %+v", fates, committed)
	}

	for name, f := range map[string]func() error{
		"add a voter":       func() error { _, err := q.AddLearner(1); return err },
		"remove a stranger": func() error { _, err := q.RemoveNode(7); return err },
		"remove last voter": func() error { _, err := q.RemoveNode(1); return err },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := q.AddLearner(7); err != nil {
		t.Fatal(err)
	}
	if _, err := q.AddLearner(8); !errors.Is(err, ErrMembershipChangePending) {
		t.Fatalf("second membership change: %v", err)
	}
	var membership *Membership
	due := false
	for _, rd := range drain(t, q, nil) {
		if rd.Membership != nil {
			membership = rd.Membership
		}
		due = due || rd.SnapshotDue
	}
	if membership == nil || len(membership.Learners) != 1 || membership.Learners[0] != 7 || !due {
		t.Fatalf("membership %+v, snapshot due %t", membership, due)
	}
}

func TestSnapshotChecks(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	q := newCore(t, Config{NodeID: 1, Voters: []int32{1}}, raftlog.State{})
	drain(t, q, nil)
	image := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true})
	if _, err := q.Snapshot([]byte("junk")); err == nil {
		t.Fatal("snapshot of junk taken")
	}
	snap, err := q.Snapshot(image)
	if err != nil {
		t.Fatal(err)
	}
	if md := snap.GetMetadata(); md.GetIndex() != uint64(q.AppliedOffset()) || len(md.GetConfState().GetVoters()) != 1 {
		t.Fatalf("snapshot %v at applied offset %d", md, q.AppliedOffset())
	}
	if _, err := q.Snapshot(image); err == nil {
		t.Fatal("a second snapshot at the same offset taken")
	}
	if _, err := q.Propose(cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{})); err != nil {
		t.Fatal(err)
	}
	q.Ready()
	if _, err := q.Snapshot(image); err == nil {
		t.Fatal("snapshot taken while a Ready is out")
	}
}

// A node whose data directory held single-node metadata starts a one-voter
// quorum from it: the snapshot at index 1 holds that image, is persisted
// before anything else, and comes back after a restart with what followed.
func TestBootstrapFromSingleNodeMetadata(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	legacy := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Epoch: 42, Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: "orders"}}})
	fs := vfs.NewMem()
	log, st, err := raftlog.Open(fs, raftlog.DirName, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{NodeID: 0, Voters: []int32{0}, InitialSnapshot: legacy}
	q := newCore(t, cfg, st)
	rd := q.Ready()
	if md := rd.Persist.Snapshot.GetMetadata(); md.GetIndex() != 1 || md.GetTerm() != 1 || len(rd.SendFirst)+len(rd.Messages) != 0 {
		t.Fatalf("first Ready persists snapshot %v, sends %d messages", md, len(rd.SendFirst)+len(rd.Messages))
	}
	if rd.Snapshot == nil || rd.Snapshot.Offset != 1 || rd.Snapshot.Batch.Epoch != 42 || len(rd.Snapshot.Batch.Records) != 1 {
		t.Fatalf("first Ready applies %+v", rd.Snapshot)
	}
	if err := log.Save(rd.Persist); err != nil {
		t.Fatal(err)
	}
	q.Advance()
	drain(t, q, log)
	batch := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Epoch: 42, Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: "later"}}})
	if _, err := q.Propose(batch); err != nil {
		t.Fatal(err)
	}
	drain(t, q, log)
	_ = log.Close()
	fs.Crash()

	log, st, err = raftlog.Open(fs, raftlog.DirName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// Restarted with another initial snapshot: the log's wins.
	cfg.InitialSnapshot = nil
	q = newCore(t, cfg, st)
	var snap *SnapshotToApply
	var names []string
	for _, rd := range drain(t, q, log) {
		if rd.Snapshot != nil {
			snap = rd.Snapshot
		}
		for _, b := range rd.Committed {
			names = append(names, b.Batch.Records[0].(cluster.TopicRecord).Name)
		}
	}
	if snap == nil || snap.Offset != 1 || snap.Batch.Records[0].(cluster.TopicRecord).Name != "orders" || len(names) != 1 || names[0] != "later" {
		t.Fatalf("after a restart: snapshot %+v, batches %v", snap, names)
	}
}

// A learner (not among the voters) with an empty log bootstraps nothing: it
// waits for the leader's snapshot.
func TestLearnerWaitsForTheLeader(t *testing.T) {
	q := newCore(t, Config{NodeID: 4, Voters: []int32{1, 2, 3}}, raftlog.State{})
	for _, rd := range drain(t, q, nil) {
		if rd.Persist.Snapshot != nil || rd.Snapshot != nil {
			t.Fatalf("a learner bootstrapped: %+v", rd)
		}
	}
	if st := q.Status(); st.Role != RoleObserver || len(st.Voters) != 0 {
		t.Fatalf("learner status %+v", st)
	}
}

func TestNewRefusesABadInitialSnapshot(t *testing.T) {
	records := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: "t"}}})
	for _, data := range [][]byte{[]byte("junk"), records} {
		if _, err := New(Config{NodeID: 1, Voters: []int32{1}, InitialSnapshot: data}, raftlog.State{}); err == nil {
			t.Errorf("initial snapshot %q accepted", data)
		}
	}
	image := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: "t"}}})
	if _, err := New(Config{NodeID: 1, Voters: []int32{1, 2, 3}, InitialSnapshot: image}, raftlog.State{}); err == nil {
		t.Error("existing metadata started a quorum of three voters")
	}
}

func TestStepChecksAddresses(t *testing.T) {
	q := newCore(t, Config{NodeID: 1, Voters: []int32{1, 2, 3}}, raftlog.State{})
	drain(t, q, nil)
	hb := &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: new(raftID(2)), To: new(raftID(3)), Term: new(uint64(2))}
	if err := q.Step(cluster.Instant{}, hb); err == nil {
		t.Fatal("stepped a message for node 3")
	}
	hb.To = new(raftID(1))
	p, err := MarshalMessage(hb)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.StepBytes(cluster.Instant{}, p); err != nil {
		t.Fatal(err)
	}
	if err := q.StepBytes(cluster.Instant{}, []byte{0xff, 0xff}); err == nil {
		t.Fatal("stepped garbage")
	}
	drain(t, q, nil)
	if l := q.Leadership(); l.LeaderID != 2 || l.LeaderEpoch != 2 {
		t.Fatalf("after node 2's heartbeat in term 2: %+v", l)
	}
}

func TestMissingLearners(t *testing.T) {
	m := Membership{Voters: []int32{1, 2, 3}, Learners: []int32{5}}
	if got := m.MissingLearners([]int32{6, 1, 5, 4, 6}); len(got) != 2 || got[0] != 4 || got[1] != 6 {
		t.Fatalf("missing %v", got)
	}
	if got := m.MissingLearners([]int32{1, 2}); len(got) != 0 {
		t.Fatalf("missing %v", got)
	}
}

// Voters' ticks fall apart within a tick, by node id, so that voters
// started together do not time out in the same millisecond; with
// SpreadTicks a node's first tick comes its phase earlier.
func TestTickPhasesSpreadVoters(t *testing.T) {
	const tickMs = 100
	phases := map[int32]int64{}
	for id := int32(0); id <= 5; id++ {
		phases[id] = tickPhaseMs(id, tickMs)
		if phases[id] < 0 || phases[id] >= tickMs {
			t.Fatalf("node %d: phase %d ms, not within a tick of %d ms", id, phases[id], tickMs)
		}
	}
	for a := int32(1); a <= 3; a++ {
		for b := a + 1; b <= 3; b++ {
			if d := max(phases[a]-phases[b], phases[b]-phases[a]); d < 20 {
				t.Errorf("nodes %d and %d tick %d ms apart, want at least 20", a, b, d)
			}
		}
	}
	q := newCore(t, Config{NodeID: 2, Voters: []int32{1, 2, 3}, ElectionTimeoutMs: 1000, HeartbeatIntervalMs: tickMs, SpreadTicks: true}, raftlog.State{})
	drain(t, q, nil)
	q.Tick(cluster.Instant{MonoMs: 1_000})
	if got, want := q.NextTickMs(), 1_000+tickMs-phases[2]; got != want {
		t.Errorf("next tick %d, want %d", got, want)
	}
}

package actors

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/groups"
)

// recordingCoordinator stands for a coordinator: it records the group
// requests it handles.
type recordingCoordinator struct{ got []kmsg.Request }

func (c *recordingCoordinator) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*groupRequest); ok {
		c.got = append(c.got, m.body)
	}
}

// A group request its connection's reader sends to an idle coordinator is
// handled on the reader's goroutine before the send returns; one that does
// not ask to run inline waits for a worker. (protoactor's own mailbox
// hands every message to a goroutine of the dispatcher: the test's keeps
// them, and the inline request is never handled.)
func TestCoordinatorHandlesAnInlineRequestOnItsSender(t *testing.T) {
	system := newActorSystem(zap.NewNop())
	disp := &testDispatcher{}
	c := &recordingCoordinator{}
	pid := system.Root.Spawn(coordinatorProps(func() actor.Actor { return c }, disp))
	disp.runAll() // Started
	inline := &kmsg.HeartbeatRequest{Group: "inline"}
	system.Root.Send(pid, &groupRequest{body: inline, inline: true})
	if len(c.got) != 1 || c.got[0] != inline {
		t.Fatalf("handled %v before the send returned, want the inline request", c.got)
	}
	queued := &kmsg.HeartbeatRequest{Group: "queued"}
	system.Root.Send(pid, &groupRequest{body: queued})
	if len(c.got) != 1 {
		t.Fatalf("a request not inline was handled on its sender")
	}
	if n := disp.runAll(); n != 1 || len(c.got) != 2 || c.got[1] != queued {
		t.Fatalf("%d worker runs handled %v, want one run handling the queued request", n, c.got)
	}
}

// TestOffsetCommitRunsOnItsReader: on one node, an offset commit is
// handled, appended to __consumer_offsets (acks=all) and answered on the
// reader of its connection: neither the coordinator's nor the partition
// actor's mailbox is handed to a worker (almost never). With the append
// sent to a worker, each commit woke one for the partition (and one more
// for the coordinator to take the partition's answer).
func TestOffsetCommitRunsOnItsReader(t *testing.T) {
	// One __consumer_offsets partition, so one coordinator: the count of
	// coordinator hand-offs is the node's, and with the default 50 the
	// other coordinators, loading their partitions while the commits ran,
	// added up to 24 under load.
	n := startTestNode(t, t.TempDir(), func(cfg *Config) { cfg.Groups.OffsetsTopicPartitions = 1 })
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "committed"); err != nil {
		t.Fatal(err)
	}
	commit := func(at int64) {
		offsets := kadm.Offsets{}
		offsets.Add(kadm.Offset{Topic: "committed", Partition: 0, At: at, LeaderEpoch: -1})
		res, err := adm.CommitOffsets(ctx, "inline-group", offsets)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", at, err)
		}
	}
	commit(0) // creates __consumer_offsets, finds the coordinator
	rt := n.routes.load()
	offsets, ok := rt.image.Topic(groups.OffsetsTopic)
	if !ok {
		t.Fatal("no __consumer_offsets after a commit")
	}
	board := n.fetchBoards.of(rt.partition(groups.OffsetsTopic, groups.PartitionFor("inline-group", offsets.PartitionCount())))
	if board == nil {
		t.Fatal("no fetch board for the group's __consumer_offsets partition")
	}
	before, coordBefore := board.handedOff.Load(), n.groups.handOffs.Load()
	const commits = 50
	for i := range commits {
		commit(int64(i + 1))
	}
	got, coordGot := board.handedOff.Load()-before, n.groups.handOffs.Load()-coordBefore
	t.Logf("%d partition and %d coordinator hand-offs to workers for %d offset commits", got, coordGot, commits)
	// Without inline runs every commit is a hand-off of each (50 and 50).
	// The coordinator's count takes its timer ticks too, more on a loaded
	// machine.
	if limit := int64(commits / 2); got > limit || coordGot > limit {
		t.Errorf("%d hand-offs of the __consumer_offsets partition and %d of its coordinator to workers for %d offset commits, want at most %d each",
			got, coordGot, commits, limit)
	}
	fetched, err := adm.FetchOffsets(ctx, "inline-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("committed", 0); o.At != commits {
		t.Fatalf("committed offset %d, want %d", o.At, commits)
	}
}

// TestReplicatedOffsetCommitAnsweredOnTheFollowersReader: on three nodes
// (__consumer_offsets at replication factor 3), the coordinator takes the
// partition's answer to a commit's append on the reader of the follower's
// Fetch that moved the high watermark past it, and answers the commit
// there: its mailbox is almost never handed to a worker. Sent to a worker,
// the answer woke one on every commit.
func TestReplicatedOffsetCommitAnsweredOnTheFollowersReader(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	adm := c.admin(active)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "committed"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("committed", 1)
	const group = "replicated-group"
	commit := func(at int64) {
		offsets := kadm.Offsets{}
		offsets.Add(kadm.Offset{Topic: "committed", Partition: 0, At: at, LeaderEpoch: -1})
		res, err := adm.CommitOffsets(ctx, group, offsets)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("commit %d: %v", at, err)
		}
	}
	commit(0) // creates __consumer_offsets, finds the coordinator
	c.waitForTopic(groups.OffsetsTopic, 50)
	c.waitISRFull(active, groups.OffsetsTopic, 50)
	for i := range 10 {
		commit(int64(i + 1)) // the followers' fetch sessions settle
	}
	found := adm.FindGroupCoordinators(ctx, group)[group]
	if found.Err != nil {
		t.Fatal(found.Err)
	}
	coordinator := c.node(int(found.NodeID) - 1)
	before := coordinator.groups.handOffs.Load()
	const commits = 50
	for i := range commits {
		commit(int64(i + 11))
	}
	got := coordinator.groups.handOffs.Load() - before
	t.Logf("coordinator on node %d: %d hand-offs to workers for %d offset commits", found.NodeID, got, commits)
	// Without the inline answer 50 (99 without inline requests either);
	// the count takes the node's coordinators' timer ticks too.
	if limit := int64(commits / 2); got > limit {
		t.Errorf("%d hand-offs of the coordinator's mailbox to workers for %d replicated offset commits, want at most %d", got, commits, limit)
	}
}

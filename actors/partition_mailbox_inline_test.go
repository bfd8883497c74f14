package actors

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testInvoker records what a mailbox hands its actor.
type testInvoker struct {
	mu       sync.Mutex
	got      []any
	failures []any
	// onUser, if set, runs inside each user message (before a panic the
	// message asks for).
	onUser func(msg any)
}

func (v *testInvoker) InvokeSystemMessage(msg any) { v.record(msg) }

func (v *testInvoker) InvokeUserMessage(msg any) {
	v.record(msg)
	if v.onUser != nil {
		v.onUser(msg)
	}
	if m, ok := msg.(*testMessage); ok && m.panics {
		panic("test message panics")
	}
}

func (v *testInvoker) EscalateFailure(_ any, msg any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failures = append(v.failures, msg)
}

func (v *testInvoker) record(msg any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, msg)
}

func (v *testInvoker) handled() []any {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.got)
}

// testDispatcher keeps the mailbox runs handed to it, for the test to run.
type testDispatcher struct {
	mu   sync.Mutex
	runs []func()
}

func (d *testDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runs = append(d.runs, fn)
}

func (d *testDispatcher) Throughput() int { return actorThroughput }

// runAll runs the runs handed over so far, and reports how many.
func (d *testDispatcher) runAll() int {
	d.mu.Lock()
	runs := d.runs
	d.runs = nil
	d.mu.Unlock()
	for _, fn := range runs {
		fn()
	}
	return len(runs)
}

type testMessage struct {
	name   string
	inline bool
	panics bool
}

func (m *testMessage) runsInline() bool { return m.inline }

func newTestMailbox() (*partitionMailbox, *testInvoker, *testDispatcher, *fetchBoard) {
	board := newFetchBoard()
	m := partitionMailboxWith(board).(*partitionMailbox)
	inv, disp := &testInvoker{}, &testDispatcher{}
	m.RegisterHandlers(inv, disp)
	return m, inv, disp, board
}

func wantHandled(t *testing.T, inv *testInvoker, want ...any) {
	t.Helper()
	if got := inv.handled(); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestPartitionMailboxRunsAnInlineMessageOnItsSender: a message that asks
// to run inline and finds the mailbox idle is handled before its post
// returns, with no worker; any other message goes to a worker.
func TestPartitionMailboxRunsAnInlineMessageOnItsSender(t *testing.T) {
	m, inv, disp, board := newTestMailbox()
	a, b := &testMessage{name: "a", inline: true}, &testMessage{name: "b"}
	m.PostUserMessage(a)
	wantHandled(t, inv, a)
	if n := disp.runAll(); n != 0 || board.handedOff.Load() != 0 {
		t.Fatalf("an inline message handed %d runs to workers (counted %d), want none", n, board.handedOff.Load())
	}
	m.PostUserMessage(b)
	wantHandled(t, inv, a)
	if n := disp.runAll(); n != 1 {
		t.Fatalf("a message not inline handed %d runs to workers, want 1", n)
	}
	wantHandled(t, inv, a, b)
	if board.handedOff.Load() != 1 || board.queued.Load() != 0 {
		t.Fatalf("handed off %d, queued %d; want 1 and 0", board.handedOff.Load(), board.queued.Load())
	}
}

// TestPartitionMailboxInlineSenderRunsWhatItsMessageQueued: a sender that
// runs its message inline also handles the messages queued while it did
// (inline ones too, which find the mailbox running), and no more: those
// queued while it handles them go to a worker.
func TestPartitionMailboxInlineSenderRunsWhatItsMessageQueued(t *testing.T) {
	m, inv, disp, _ := newTestMailbox()
	a, c, d := &testMessage{name: "a", inline: true}, &testMessage{name: "c"}, &testMessage{name: "d", inline: true}
	later := &testMessage{name: "later", inline: true}
	inv.onUser = func(msg any) {
		switch msg {
		case a:
			m.PostUserMessage(c)
			m.PostUserMessage(d)
		case d:
			m.PostUserMessage(later)
		}
	}
	m.PostUserMessage(a)
	wantHandled(t, inv, a, c, d)
	if n := disp.runAll(); n != 1 {
		t.Fatalf("%d runs handed to workers after the inline run, want 1", n)
	}
	wantHandled(t, inv, a, c, d, later)
	// Idle again: the next inline message runs on its sender.
	e := &testMessage{name: "e", inline: true}
	m.PostUserMessage(e)
	wantHandled(t, inv, a, c, d, later, e)
	if n := disp.runAll(); n != 0 {
		t.Fatalf("%d runs handed to workers for a message inline on an idle mailbox, want 0", n)
	}
}

// TestPartitionMailboxSystemMessagesAndSuspension: system messages are
// handled before user messages; a suspended mailbox holds user messages,
// inline ones too, until it is resumed.
func TestPartitionMailboxSystemMessagesAndSuspension(t *testing.T) {
	m, inv, disp, _ := newTestMailbox()
	u1, sys := &testMessage{name: "u1"}, &actor.Started{}
	m.PostUserMessage(u1)
	m.PostSystemMessage(sys)
	disp.runAll()
	wantHandled(t, inv, sys, u1)

	m.PostSystemMessage(&actor.SuspendMailbox{})
	disp.runAll()
	u2, u3 := &testMessage{name: "u2"}, &testMessage{name: "u3", inline: true}
	m.PostUserMessage(u2)
	disp.runAll()
	m.PostUserMessage(u3)
	disp.runAll()
	wantHandled(t, inv, sys, u1)
	m.PostSystemMessage(&actor.ResumeMailbox{})
	disp.runAll()
	wantHandled(t, inv, sys, u1, u2, u3)
}

// TestPartitionMailboxPanicGoesToTheSupervisor: a message that panics is
// escalated with the message, and the mailbox goes on (its queued count
// back to zero).
func TestPartitionMailboxPanicGoesToTheSupervisor(t *testing.T) {
	m, inv, disp, board := newTestMailbox()
	bad, next := &testMessage{name: "bad", inline: true, panics: true}, &testMessage{name: "next", inline: true}
	m.PostUserMessage(bad)
	m.PostUserMessage(next)
	disp.runAll()
	wantHandled(t, inv, bad, next)
	if len(inv.failures) != 1 || inv.failures[0] != bad {
		t.Fatalf("escalated %v, want the panicking message", inv.failures)
	}
	if q := board.queued.Load(); q != 0 {
		t.Fatalf("queued count %d after the panic, want 0", q)
	}
}

// TestReplicationRoundRunsOnItsReaders: on three nodes, an acks=all
// Produce of one record to a partition at replication factor 3 hands its
// partition actors' mailboxes to worker goroutines almost never: the
// leader appends on the reader of the Produce's connection (and answers
// on it the followers' Fetches the append woke), each follower appends
// the leader's answer on the reader of its fetcher's connection (through
// the fetcher, which runs inline too), and the leader records each
// follower's fetch position on the reader of that Fetch. Each hand-off
// wakes a goroutine and often an idle thread of the Go scheduler; with
// workers everywhere a round cost three on the leader and one on each
// follower.
func TestReplicationRoundRunsOnItsReaders(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "rounds"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("rounds", 1)
	c.waitISRFull(active, "rounds", 1)
	tp, _ := c.node(active).routes.load().image.Topic("rounds")
	leader := int(tp.Partitions[0].Leader) - 1
	prod := newClient(t, c.node(leader), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	produce := func(n int) {
		for range n {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "rounds", Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(10) // connections and first fetch states
	boards := make([]*fetchBoard, 3)
	before := make([]int64, 3)
	for i := range 3 {
		n := c.node(i)
		boards[i] = n.fetchBoards.of(n.routes.load().partition("rounds", 0))
		if boards[i] == nil {
			t.Fatalf("node %d has no board for rounds-0", i+1)
		}
		before[i] = boards[i].handedOff.Load()
	}
	const records = 50
	produce(records)
	for i := range 3 {
		got := boards[i].handedOff.Load() - before[i]
		t.Logf("node %d (leader %v): %d hand-offs for %d records", i+1, i == leader, got, records)
		// Messages that arrive while a sender runs the mailbox inline
		// are handed off after it (runInline), and contention makes
		// that overlap likelier: 12-19 on the leader under -race at
		// load 9-21. Workers everywhere cost three per record (150).
		if limit := int64(records / 2); got > limit {
			t.Errorf("node %d (leader %v): %d hand-offs to workers for %d records, want at most %d", i+1, i == leader, got, records, limit)
		}
	}
}

// TestDeferredPostAllocatesNothing: a message that claims an idle mailbox
// for its sender's deferred run (a Produce's partitions, a transaction's
// markers and state appends: inlineRuns) hands over the mailbox's run
// bound once, allocating nothing; the method value bound on every post
// was a heap allocation each, about twenty a transaction.
func TestDeferredPostAllocatesNothing(t *testing.T) {
	m, inv, _, _ := newTestMailbox()
	inv.onUser = func(any) {}
	runs := &inlineRuns{runs: make([]func(), 0, 1)}
	b := &produceBatch{inline: true, deferTo: runs}
	post := func() {
		m.PostUserMessage(b)
		if len(runs.runs) != 1 {
			t.Fatalf("%d runs deferred by a post to an idle mailbox, want 1", len(runs.runs))
		}
		run := runs.runs[0]
		runs.runs = runs.runs[:0] // inlineRuns.run drops its slice
		run()
	}
	post() // the queues' first growth
	if got := testing.AllocsPerRun(1000, post); got != 0 {
		t.Errorf("%v allocations per deferred post and run, want none", got)
	}
}

// TestLocalMarkerOutcomesRunOnTheirSender: the outcomes of a coordinator's
// markers to partitions of its node that come after its run (a busy
// partition took the marker with another sender's batch; a log that syncs
// its appends wrote it on a worker) are taken by the idle coordinator on
// the goroutine that sends them, the partition's: before, each woke a
// worker for the coordinator (0.65 a transaction with 4 transactional
// producers on six partitions, in an execution trace of the raw cells of
// BenchmarkTransactions), on the way of the producer's next add. Outcomes
// of WriteTxnMarkers that other brokers answered still go to a worker.
func TestLocalMarkerOutcomesRunOnTheirSender(t *testing.T) {
	m, inv, disp, _ := newTestMailbox()
	local, remote := &txnMarkersWritten{inline: true}, &txnMarkersWritten{}
	m.PostUserMessage(local)
	wantHandled(t, inv, local)
	if n := disp.runAll(); n != 0 {
		t.Fatalf("a local marker outcome handed %d runs to workers, want none", n)
	}
	m.PostUserMessage(remote)
	if n := disp.runAll(); n != 1 {
		t.Fatalf("a remote marker outcome handed %d runs to workers, want 1", n)
	}
	wantHandled(t, inv, local, remote)
}

// TestCollectingSixRunsAllocatesOnlyTheCollector: a sender that defers the
// runs of six idle mailboxes (a Produce over six partitions, a
// transaction's six markers) allocates its collector and nothing more
// (the runs grew a slice before: five allocations).
func TestCollectingSixRunsAllocatesOnlyTheCollector(t *testing.T) {
	b := &produceBatch{}
	ran := 0
	fn := func() { ran++ }
	collect := func() {
		runs := smallRuns(true)
		b.deferTo = runs
		for range 6 {
			b.deferRun(fn)
		}
		runs.run()
	}
	if got := testing.AllocsPerRun(1000, collect); got != 1 {
		t.Errorf("%v allocations to collect and make six deferred runs, want 1 (the collector)", got)
	}
	if ran != 6*1001 {
		t.Errorf("%d runs made, want %d", ran, 6*1001)
	}
}

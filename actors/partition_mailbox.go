package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// A partition actor's mailbox answers what lands in it after the actor
// stopped. protoactor handles a stop (a system message, taken before any
// queued user message) by stopping the actor at once; the user messages
// still queued behind it, and any posted before the actor left the process
// registry, are then dropped without a word, while those sent later go to
// dead letters, which the node answers. A Fetch read dropped that way kept
// its connection waiting for the Fetch's max wait plus the fan-out's slack;
// a Produce, for its timeout. The middleware answers each such message as
// undelivered instead (NOT_LEADER_OR_FOLLOWER, as Kafka answers for a
// partition this broker no longer hosts), so the client re-routes at once.
//
// The mailbox is gregor's own (partitionMailbox), with protoactor's rules
// (system messages first; a suspended mailbox takes system messages only;
// one message at a time; a yield every actorThroughput messages; a panic
// escalated to the actor's supervisor) and one more: a message that asks
// to run inline (inlineMessage) and finds the mailbox idle is handled on
// the sender's goroutine, as the fetcher's messages are
// (fetcherDispatcher). The sender is a connection's reader or a replica
// fetcher that would go back to waiting for its socket at once: handing
// the message to a worker instead wakes a goroutine, and often an idle
// thread of the Go scheduler, twice per replication round and follower
// (the follower's append of the leader's answer, the leader's record of
// the follower's fetch position). The sender runs its own message and
// those queued while it did (runInline), no more: what was queued after
// goes to a worker.

// inlineMessage is a message its sender hands to an idle partition actor
// on its own goroutine (partitionMailbox).
type inlineMessage interface{ runsInline() bool }

// deferredInline is an inline message whose sender runs the mailbox it
// claimed later, once it sent its other messages (inlineRuns): deferRun
// takes the run and says so (false: run now).
type deferredInline interface{ deferRun(run func()) bool }

// partitionMailbox is a partition actor's mailbox (above), and a group or
// transaction coordinator's (coordinatorProps).
type partitionMailbox struct {
	mw *answerAfterStop

	mu sync.Mutex
	// system and user are the queued messages, oldest first.
	system, user fifo
	// running says a goroutine runs the mailbox (a worker, or a sender
	// inline).
	running   bool
	suspended bool

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	// runInlineFn is runInline, bound once (RegisterHandlers): a deferred
	// run hands it over for every message that claims the idle mailbox (a
	// Produce's partitions, a transaction's markers and state), where
	// binding the method value would be a heap allocation each time.
	runInlineFn func()
}

// PostUserMessage implements actor.Mailbox.
func (m *partitionMailbox) PostUserMessage(msg any) {
	m.mw.MessagePosted(msg)
	m.mu.Lock()
	m.user.push(msg)
	start := !m.running
	m.running = true
	m.mu.Unlock()
	if !start {
		return
	}
	if im, ok := actor.UnwrapEnvelopeMessage(msg).(inlineMessage); ok && im.runsInline() {
		if d, ok := im.(deferredInline); ok && d.deferRun(m.runInlineFn) {
			return
		}
		m.runInline()
		return
	}
	m.handOff()
}

// PostSystemMessage implements actor.Mailbox.
func (m *partitionMailbox) PostSystemMessage(msg any) {
	m.mw.MessagePosted(msg)
	m.mu.Lock()
	m.system.push(msg)
	start := !m.running
	m.running = true
	m.mu.Unlock()
	if start {
		m.handOff()
	}
}

// handOff has a worker run the mailbox.
func (m *partitionMailbox) handOff() {
	if m.mw.board != nil {
		m.mw.board.handedOff.Add(1)
	}
	m.dispatcher.Schedule(m.run)
}

// RegisterHandlers implements actor.Mailbox.
func (m *partitionMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher, m.runInlineFn = invoker, dispatcher, m.runInline
}

// Start implements actor.Mailbox.
func (m *partitionMailbox) Start() { m.mw.MailboxStarted() }

// UserMessageCount implements actor.Mailbox.
func (m *partitionMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.user.len()
}

// run handles messages until none is left (on a worker).
func (m *partitionMailbox) run() {
	for i := 1; ; i++ {
		msg, system, ok := m.next()
		if !ok {
			return
		}
		m.handle(msg, system)
		if i%actorThroughput == 0 {
			runtime.Gosched()
		}
	}
}

// runInline handles, on the sender's goroutine, the system messages and
// the one user message (the sender's) queued while the mailbox was idle,
// then the messages queued meanwhile (most are what the sender's message
// caused: a Fetch its append woke reads the partition), no more: what
// comes after goes to a worker.
func (m *partitionMailbox) runInline() {
	own := true
	for left := 1; left > 0; {
		msg, system, ok := m.next()
		if !ok {
			return
		}
		m.handle(msg, system)
		if system {
			continue
		}
		left--
		if own {
			own = false
			m.mu.Lock()
			left += m.user.len()
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	if m.system.len() == 0 && (m.suspended || m.user.len() == 0) {
		m.running = false
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.handOff()
}

// next takes the next message to handle; when there is none it gives the
// mailbox up (ok false).
func (m *partitionMailbox) next() (msg any, system, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg, ok := m.system.pop(); ok {
		return msg, true, true
	}
	if !m.suspended {
		if msg, ok := m.user.pop(); ok {
			return msg, false, true
		}
	}
	m.running = false
	return nil, false, false
}

// handle gives one message to the actor; a panic goes to its supervisor.
func (m *partitionMailbox) handle(msg any, system bool) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
		m.mw.MessageReceived(msg)
	}()
	if !system {
		m.invoker.InvokeUserMessage(msg)
		return
	}
	switch msg.(type) {
	case *actor.SuspendMailbox:
		m.setSuspended(true)
	case *actor.ResumeMailbox:
		m.setSuspended(false)
	default:
		m.invoker.InvokeSystemMessage(msg)
	}
}

func (m *partitionMailbox) setSuspended(v bool) {
	m.mu.Lock()
	m.suspended = v
	m.mu.Unlock()
}

// fifo is a queue of messages.
type fifo struct {
	items []any
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(v any) {
	if q.head > 0 && q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, v)
}

func (q *fifo) pop() (any, bool) {
	if q.head == len(q.items) {
		return nil, false
	}
	v := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	return v, true
}

var _ actor.Mailbox = (*partitionMailbox)(nil)

// answerAfterStop is the mailbox middleware of one partition actor. Its
// methods run on the mailbox's goroutine, one message at a time, so it
// needs no lock.
type answerAfterStop struct {
	stopped bool
	// board, when set, is the partition's fetch board, whose queued count
	// the mailbox keeps (fetchBoard.queued).
	board *fetchBoard
}

// partitionMailboxWith makes a partition actor's mailbox that counts its
// messages on the partition's fetch board (fetchBoard.queued).
func partitionMailboxWith(board *fetchBoard) actor.Mailbox {
	board.counted = true
	return &partitionMailbox{mw: &answerAfterStop{board: board}}
}

// MailboxStarted implements actor.MailboxMiddleware.
func (*answerAfterStop) MailboxStarted() {}

// MessagePosted implements actor.MailboxMiddleware: it runs on the sender's
// goroutine before the message is queued.
func (m *answerAfterStop) MessagePosted(any) {
	if m.board != nil {
		m.board.queued.Add(1)
	}
}

// MailboxEmpty implements actor.MailboxMiddleware.
func (*answerAfterStop) MailboxEmpty() {}

// MessageReceived implements actor.MailboxMiddleware: it runs after the
// actor took msg. A stop is complete when it returns (a partition actor has
// no children to wait for); every user message after it reached no actor.
func (m *answerAfterStop) MessageReceived(msg any) {
	if m.board != nil {
		defer m.board.queued.Add(-1)
	}
	switch msg.(type) {
	case *actor.Stop:
		m.stopped = true
		return
	case actor.SystemMessage:
		return
	}
	if m.stopped {
		answerUndelivered(actor.UnwrapEnvelopeMessage(msg))
	}
}

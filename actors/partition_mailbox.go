package actors

import "github.com/asynkron/protoactor-go/actor"

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

// answerAfterStop is the mailbox middleware of one partition actor. Its
// methods run on the mailbox's goroutine, one message at a time, so it
// needs no lock.
type answerAfterStop struct {
	stopped bool
	// board, when set, is the partition's fetch board, whose queued count
	// the mailbox keeps (fetchBoard.queued).
	board *fetchBoard
}

// partitionMailbox makes a partition actor's mailbox, with its own
// answerAfterStop.
func partitionMailbox() actor.Mailbox {
	return actor.Unbounded(&answerAfterStop{})()
}

// partitionMailboxWith makes a partition actor's mailbox that counts its
// messages on the partition's fetch board (fetchBoard.queued).
func partitionMailboxWith(board *fetchBoard) actor.Mailbox {
	board.counted = true
	return actor.Unbounded(&answerAfterStop{board: board})()
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

package actors

import "github.com/asynkron/protoactor-go/actor"

// coordinatorProps are the props of a group or transaction coordinator
// actor: a partitionMailbox with answerAfterStop, so a request still queued
// when the coordinator stops (its partition's leadership moved, or the node
// shuts down) is answered NOT_COORDINATOR and its client looks the
// coordinator up again at once (protoactor's own mailbox drops such
// messages without a word; the connection then waited for the client's
// request timeout), on the node's workers (dispatcher, nil for protoactor's
// default). The partitionMailbox runs a request its connection's reader
// sends inline when the coordinator is idle, and the coordinator sends its
// appends to its partition the same way: an offset commit on one node is
// then handled, appended and answered on the reader's goroutine, without
// waking another (it woke a goroutine for the coordinator, one for the
// partition and one for the coordinator again).
func coordinatorProps(produce actor.Producer, dispatcher actor.Dispatcher) *actor.Props {
	mailbox := func() actor.Mailbox { return &partitionMailbox{mw: &answerAfterStop{}} }
	opts := []actor.PropsOption{actor.WithMailbox(mailbox)}
	if dispatcher != nil {
		opts = append(opts, actor.WithDispatcher(dispatcher))
	}
	return actor.PropsFromProducer(produce, opts...)
}

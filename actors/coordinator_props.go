package actors

import "github.com/asynkron/protoactor-go/actor"

// coordinatorProps are the props of a group or transaction coordinator
// actor: protoactor's mailbox with answerAfterStop, so a request still
// queued when the coordinator stops (its partition's leadership moved, or
// the node shuts down) is answered NOT_COORDINATOR and its client looks the
// coordinator up again at once. protoactor drops such messages without a
// word; the connection then waited for the client's request timeout.
func coordinatorProps(produce actor.Producer, opts ...actor.PropsOption) *actor.Props {
	mailbox := func() actor.Mailbox { return actor.Unbounded(&answerAfterStop{})() }
	return actor.PropsFromProducer(produce, append(opts, actor.WithMailbox(mailbox))...)
}

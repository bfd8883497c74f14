package actors

// unexpectedPartitionMessage is a message no partition actor is ever sent in
// production: a test sends it to make the actor panic.
type unexpectedPartitionMessage struct{}

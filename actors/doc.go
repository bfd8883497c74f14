// Package actors is the composition root of a gregor node and the only importer
// of protoactor-go. It owns the actor system and supervision, one thin shell per
// core (partition replica, group coordinator, transaction coordinator,
// controller), the request router that netio hands decoded requests to, and the
// serf bridge.
//
// It may import netio, cluster, groups, txn and logstore; it must not import sim.
//
// Concurrency: each shell runs its core on the actor's mailbox goroutine and never
// blocks in Receive; messages between actors are pointers to immutable values.
package actors

// Package actors is the composition root of a gregor node and the only importer
// of protoactor-go. It owns the actor system and supervision, one thin shell per
// core (partition replica, group coordinator, transaction coordinator,
// controller), the request router that netio hands decoded requests to, and the
// serf bridge.
//
// It may import netio, cluster, groups, txn and logstore; it must not import sim.
//
// Concurrency: each shell runs its core on the actor's mailbox goroutine and never
// blocks in Receive (a stopping partition waits, bounded, for its compaction job
// to settle); messages between actors are pointers to immutable values. Two
// pieces of work leave the mailboxes on purpose: log compaction runs on the
// node's one cleaner goroutine (cleaner.go), the partition planning and
// committing each job; Fetch responses are written by netio straight from
// the log's files and cached blocks (fetch_encode.go), the records released
// once written; and the node's high watermark checkpoint is written by a
// goroutine of its own from what the partitions publish (hw_checkpoint.go).
// A Fetch that waits is a core (cluster.Fetch) driven under a mutex by the
// partitions' answers and a timer (api_fetch.go).
package actors

// Package actors is the composition root of a gregor node and the only importer
// of protoactor-go. It owns the actor system and supervision and one thin shell
// per core: a partition actor per hosted partition (cluster.Replica); the
// quorum actor (quorum.Quorum over logstore/raftlog), which carries raft over
// the CONTROLLER listener and applies the committed metadata to the node's
// image; on a controller, the controller actor (cluster.Controller), active
// while the quorum says this node leads; on a broker, the broker lifecycle
// (cluster.BrokerLifecycle: registration, heartbeats, controlled shutdown,
// and the broker's lease, under which alone the coordinators answer:
// broker_lease.go); a group coordinator per __consumer_offsets partition
// the node leads
// (groups.Coordinator, in group_coordinator.go; it reads and appends its
// partition through the partition actor); a transaction coordinator per
// __transaction_state partition the node leads (txn.Coordinator, in
// txn_coordinator.go, the same way; its markers go to partition leaders over
// broker clients, txn_markers.go); and the replica manager, which starts,
// stops and reconfigures the node's partition actors and coordinators as
// each applied metadata image says. The router, the netio.Handler of the
// client listener, hands decoded requests to them (the group APIs in
// api_group.go, the transaction APIs in api_txn.go; what the controller serves goes to the active
// controller, sendToController); a Fetch that waits is a core too
// (cluster.Fetch). Gossip (cluster/gossip) hands membership hints to the
// controller.
//
// It may import netio, cluster, groups, txn and logstore; it must not import sim.
//
// Time is read only through Config.Clock and randomness comes only from
// Config.Entropy; cores are handed both.
//
// Concurrency: each shell runs its core on the actor's mailbox goroutine and
// never blocks in Receive (a stopping partition waits, bounded, for its
// compaction job to settle; the quorum actor saves and fsyncs the metadata
// log before raft's messages leave); messages between actors are pointers to
// immutable values. protoactor lists a named actor under its name before it
// sets up the actor's mailbox and posts Started, so nothing sends to a named
// actor that is being spawned: one spawned while others run publishes its
// PID as it starts and reads then what they told the node meanwhile
// (Node.lifecycle). A replica fetcher's mailbox runs on the goroutine of
// whoever sends to it, one message at a time as any mailbox
// (fetcherDispatcher, replica_fetchers.go), and a partition actor's
// mailbox runs the messages that ask for it (the leader's answers the
// fetcher hands over, a Fetch's first reads) on their sender's goroutine
// when it is idle (partitionMailbox), and so does a Produce's append: every
// partition of a Produce whose log does not sync after appends, else the
// last one (produce_inline.go). A group
// coordinator's mailbox runs a request its connection's reader sends the
// same way, and the coordinator hands its appends to its partition so: an
// offset commit on one node is handled, appended and answered on the
// reader (coordinatorProps). Some work
// leaves the mailboxes on purpose:
//   - log compaction runs on the node's one cleaner goroutine (cleaner.go),
//     the partition planning and committing each job;
//   - Fetch responses are written by netio straight from the log's files and
//     cached blocks (fetch_encode.go), the records released once written;
//   - a restarted broker opens the partition logs its held images assign it
//     while it catches up with the metadata log, each on a goroutine of its
//     own, a bounded number at once (partition_preload.go);
//   - the high watermark checkpoint is written by a goroutine of its own from
//     what the partitions publish (hw_checkpoint.go);
//   - a deleted partition's directory, renamed aside by the replica manager,
//     is removed on a goroutine of its own;
//   - a waiting Fetch's core runs under a mutex, driven by the partitions'
//     answers and a timer (api_fetch.go); each partition actor publishes,
//     after each step, an immutable fetch view (cluster.FetchView) on its
//     fetch board, from which a Fetch answers the partitions that have
//     nothing new without messaging their actors, and on which a waiting
//     Fetch parks, woken by the actor when a view it publishes wakes it
//     (fetch_board.go);
//   - requests for the controller retry, on timers, against the active
//     controller (controller_channel.go), and answers wait for the routes to
//     show what they report (controller_forward.go);
//   - gossip runs serf's goroutines, and a node that found no seed yet joins
//     again on a goroutine of its own (gossip.go);
//   - a /metrics scrape asks each group coordinator for its groups and
//     offsets, waiting (bounded) on the scraping goroutine (group_metrics.go).
package actors

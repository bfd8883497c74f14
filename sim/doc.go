// Package sim is the deterministic simulator: it plays a whole gregor
// cluster (brokers with the metadata quorum, the controller, leader and
// follower replicas, fetchers) and its clients on one goroutine, in
// virtual time, through crashes, power losses, controlled shutdowns,
// partitions, pauses, clock jumps, drifting clocks and disk faults, and checks Kafka's guarantees after every event
// and over the history of client operations (CORRECTNESS.md §2).
//
// It drives the real cores of cluster, cluster/quorum, groups and txn over
// logstore and logstore/raftlog on a vfs.Mem per node (the broker
// lifecycle too: cluster.BrokerLifecycle); its shells (node*.go) carry out
// the cores' effects as the actors do in production. What production runs
// outside the actors' mailboxes, the log cleaner's compaction jobs and the
// connection writers' reads of a fetch answer's records, runs here as
// events in virtual time. Everything random comes from the run's
// seed, split per subsystem (network, disk, faults, workload, membership,
// ids, and raft's election jitter through crypto/rand.Reader for the run's
// duration): the same seed gives the same run, event for event, and the
// same event log (its SHA-256 is the trace hash).
//
// The parts:
//
//   - world.go, events.go, rand.go: the event loop ordered by (virtual
//     time, sequence), the seed's streams, the event log and the report;
//   - clock.go: each node's monotonic and wall clocks, which may run up to
//     5% fast or slow (the margin the broker lease and the quorum's
//     leadership hold allow for; the clock-drift plant goes beyond it);
//   - timestamps.go: record timestamps: producers' skewed timestamps and
//     wrong batch headers, LogAppendTime topics, and the check Q13 of the
//     timestamps read back, of INVALID_TIMESTAMP refusals and of
//     ListOffsets by timestamp after the final read;
//   - net.go: the network (delay, loss, duplication, reordering, cut and
//     replication-only links) and its RPC layer;
//   - node*.go: a broker's shell: the quorum and the controller, the
//     broker's lifecycle (registration, heartbeats, fencing, controlled
//     shutdown with the quorum's leadership handed on, offline replicas)
//     and replica manager, the replicas, the fetchers and the fetch
//     servers;
//   - compaction.go, compaction_gaps.go: log compaction jobs as events
//     (planned by the replica, run by the node's cleaner, committed by the
//     replica), the compaction checker C1, and what compaction did to each
//     partition (so that a log read again is seen as first written);
//   - fetch_read.go, fetch_read_scenario.go: a fetch answer's records
//     read, and the answer sent, in an event of their own at a seeded
//     delay after the plan, as a connection's writer reads them in
//     production; the check F1 and the hold-reads scenario commands;
//   - coordinator_load.go, coordinator_load_scenario.go: a group or
//     transaction coordinator's load of its partition as reads planned on
//     the leader's log and read and replayed in events of their own at a
//     seeded delay, as production's coordinators read off their mailbox;
//     the hold-loads scenario commands;
//   - client.go, history.go: the workload's clients and their history;
//   - node_group.go, client_group.go, client_classic.go, check_group.go:
//     consumer groups: the groups core on the leader of each
//     __consumer_offsets partition, group members (KIP-848 or classic) as a
//     workload, and their checkers (at least once among them);
//     client_autocommit.go, scenario_group.go: auto-committing members
//     whose application processes each poll's records before the next
//     (B21; the swarm draws them, Profile.AutoCommitShare, and crashes
//     members between polls, faults.go memberCrash), and the group member
//     scenario commands;
//   - node_lease.go, scenario_lease.go: the broker lease under which the
//     group and transaction coordinators answer (cluster.BrokerLease), and
//     the offsets scenario commands;
//   - node_txn.go, client_txn.go, check_txn.go, scenario_txn.go:
//     transactions and idempotence: the txn core on the leader of each
//     __transaction_state partition, producer ids from the controller's
//     blocks, markers through the replica cores, idempotent and
//     transactional producers and copiers (consume-transform-produce,
//     with KIP-890 part 2's epoch per transaction for a drawn share) as a
//     workload, their checkers and scenario commands;
//     client_pipeline.go: a producer id's batches kept in flight, several
//     per partition, as franz-go does, on a produce connection the
//     network keeps in order, under franz-go's sink rules (pipeGate);
//     client_txn_pipeline.go: transactional producers that pipeline (the
//     profile's TxnPipeline); client_idempotent_pipeline.go: idempotent
//     producers that do (its IdempotentPipeline), and their reset after a
//     refusal for their producer (as franz-go: a new epoch or id, nothing
//     failed); out_of_order.go: why a leader refused a batch out of order
//     (a loss, a deposed leader, stale metadata; anything else is S7);
//   - faults.go, profile.go: the faults, the failure detector, the
//     swarm's per-seed profiles and the plants; faults_clog.go: the
//     swizzle-clog (nodes' links hold what they carry, then deliver it
//     late); faults_operator.go: the operator's partition reassignments,
//     preferred leader elections, min.insync.replicas settings,
//     unclean.leader.election.enable turned on and off, and
//     unregistrations of brokers that are down; slow_disk.go: the slow
//     disk (a node's follower appends complete a drawn time later, one
//     after the other); slow_leader.go: its leader appends too (the
//     slowleader profile), the partition's other inputs waiting behind
//     each in the replica's mailbox; empty_stretch_fault.go:
//     the compaction profile's emptied-stretch fault (a leader's log
//     ending in a stretch its compaction emptied while a follower lags
//     inside it), and its emptied-prefix variant (empty_prefix_fault.go:
//     the follower cut off at the log start); fetch_conn_closed.go: a fetcher's give-up closing its
//     Fetch's connection, which the leader drops; checkpoint_loss.go:
//     power losses that take compacted partitions' recovery-point
//     checkpoints (the recovery profile), and the check R1 that recovery
//     keeps every record a log had synced; metadata_lag.go,
//     metadata_lag_scenario.go: the metadata lag (raft messages reach one
//     node late while its RPCs flow, so its replicas act on an older
//     image; the metalag profile, with a follower of the lagging leader
//     starved), and its scenario commands; metadata_log_loss.go: a
//     broker-only node's metadata log lost with a power loss, which the
//     quorum's leader sends a snapshot to; conns_closed.go: a stopped
//     process's connections to the voters closed by its kernel (a notice
//     here), which lets the controller fence it, once membership reports
//     it failed, before its session ends; profile.go's mixed profile plays
//     one named profile or a drawn one per seed;
//   - delete_records.go: DeleteRecords, sent by the admin on a topic of
//     its own (the deleterecords profile, and 30% of the drawn ones),
//     and its checks: S13 (no replica leads at the acknowledging leader
//     epoch or a later one with its log starting below an acknowledged
//     deletion) and Q15 (no poll sent after the acknowledgement reads
//     below it); records below any offset asked are no loss; the plant
//     delete-early;
//   - stray_dirs.go: a node's partition directories its caught-up image
//     does not give it, or gives it for another topic id than the one
//     their partition.metadata records, renamed aside before its replicas
//     start (cluster.StrayPartitionDirs), as production's replica manager
//     does; logs open with their topic id; topic_delete.go: the scenario
//     command delete-topic, after which the simulator forgets the topic;
//     topic_recreate.go: a topic deleted by id and created again under
//     its name during swarm runs (the recreate profile, and 30% of the
//     drawn ones and of mixed's named picks), consumers fetching by topic
//     id, and the checks S14 (a topic id serves only its own records) and
//     S15 (after convergence, no replica or directory of an id the image
//     does not give the node); the plants serve-by-name and keep-deleted;
//     topic_recreate_groups.go: group members on the re-created topic,
//     which start its partitions over when an id is deleted, and the
//     check S16 (a group is told no offset of a deleted id of its topic);
//     the plant offsets-outlive-topic; topic_recreate_txn.go: the
//     idempotent and transactional producers on it, whose producer state
//     a deletion takes;
//   - retention.go: a topic of the admin's (written by two producers of
//     its own) whose retention the operator sets mid-run (retention.bytes
//     or retention.ms over 1 KiB segments, or none: the retention
//     profile, and a quarter of the drawn ones and of mixed's named
//     picks), and the check S17 (retention never raises a replica's log
//     start past the partition's high watermark); records below a log
//     start retention reached are no loss; the plant retention-past-hw;
//   - broker_configs.go: the operator sets and deletes broker-wide
//     defaults mid-run (min.insync.replicas,
//     unclean.leader.election.enable, log.retention.ms and .bytes: the
//     brokerconfigs profile only: drawn, it would change the runs of the
//     drawn regression seeds) and deletes
//     workload topics' own values so that the defaults apply; the check
//     S18 (retention never deletes a segment of a compact-only topic:
//     group offsets and transaction states survive a broker-wide
//     retention); the plant broker-retention-compacted;
//   - data_wipe.go: a node's process crashes and the node starts again
//     with an empty data directory, metadata log and partition logs (the
//     wipe profile), one node at a time and only while the other voters
//     form a quorum; the checkers take it as a power loss of everything
//     the node held; catch_up_marker.go: a voter that starts over from an
//     empty metadata log keeps a marker until it caught up, as
//     production's does; the plant wipe-keeps-marker;
//   - check_preferred.go: the controllers run production's periodic
//     preferred-leader election (auto.leader.rebalance.enable, every
//     leader.imbalance.check.interval: drawn per seed, 2 to 30 s, in
//     swarm runs; 5 min, Kafka's default, in scenarios), and the check L4:
//     after the heal and convergence, every partition whose preferred
//     replica is active and in its ISR is led by it within one interval
//     (and the cluster converges again); the plant no-leader-balance;
//   - node_learner.go: learners (non-voters) poll the voters for the raft
//     messages held for them (quorum.LearnerPoll, quorum.Outbox), as
//     production's raft transport does; the plant poll-leader-only;
//   - check_server.go, check_client.go, check_hold.go: the checkers
//     (check_hold.go: S9's leadership-hold part); check_read_committed.go:
//     Q6, read_committed polls deliver only ended transactions' records,
//     and the plant read-open;
//   - run.go, check_liveness.go: a swarm run (faults, then heal; the
//     liveness mode: converge, groups stable, read back; then check);
//   - scenario.go: scripted scenarios (testdata/scenarios);
//     scenario_faults.go: their clock, disk and consumer commands;
//     scenario_shutdown.go: their graceful shutdown command;
//     scenario_classes.go: which scenarios, and which swarm faults (with
//     the Stats counter that shows them), play each known bug class
//     B1–B21 of CORRECTNESS.md §3 (BugClasses), and which classes real
//     clients' suites play outside it (ClassSuites: B20, franz-go's);
//   - html.go, html_page.go: the run's page (gregor sim run --html), a
//     self-contained HTML file drawing each partition's leader, ISR, high
//     watermark and log end offsets, the faults, the client operations,
//     the elections, and a violation with the events that led to it;
//   - shrink.go: the shortest prefix of a failing run's fault schedule
//     that still fails, then the faults of it the run fails without
//     (Options.LimitFaults replays a prefix, Options.SkipFaults a subset);
//   - speed_test.go: the simulator's speed as benchmarks (make bench).
//
// A failing seed is replayed with `gregor sim run --seed S` (add --trace
// FILE for the event log, --html FILE for its page, --faults K to cut its
// fault schedule after K faults, --skip-faults I,J to leave faults out), or
// `go test ./sim -run TestSeeds -sim.seed=S`.
//
// It may import cluster, groups, txn and logstore; never actors or netio,
// so no protoactor, serf, ristretto, goroutine, socket or wall clock enters
// a simulation. Nothing imports sim but the gregor command.
//
// Concurrency: a run is single-threaded; runs in one process are
// serialised (they share crypto/rand.Reader, which a run replaces: do not
// run a simulation beside code that needs real randomness). Parallel runs
// use processes (gregor sim swarm --parallel).
package sim

package sim

// BugClass is one of the known bug classes of CORRECTNESS.md §3 (B1–B21):
// the named scenarios (testdata/scenarios) that play it, and how the swarm
// plays it, with the counter of a run's Stats (or the profile) that shows
// it happened. A scenario written for a class names it on its first line
// ("# B2: ...").
type BugClass struct {
	ID, Name  string
	Scenarios []string
	// Swarm says how swarms play the class ("" when they do not).
	Swarm string
}

// BugClasses maps every class of CORRECTNESS.md §3 to what plays it.
// TestBugClasses keeps it true to the scenario files.
var BugClasses = []BugClass{
	{"B1", "ISR shrinks to the leader, stale replica elected",
		[]string{"unclean-election"},
		"starveISR: followers cut from the leader until dropped from the ISR, then the leader crashes (Stats.Partitions; profile \"ISR starved every\")"},
	{"B2", "truncate-to-HW loses acked data",
		[]string{"follower-restart-hw-lag", "follower-truncation"},
		"crashes and restarts of followers behind the high watermark (Stats.Crashes, Stats.Truncations)"},
	{"B3", "divergent logs after multiple hard failures",
		[]string{"power-loss-both-replicas-restart-reversed"},
		"power losses (Stats.PowerLosses; profile's PowerLossShare)"},
	{"B4", "fast back-to-back leader failover",
		[]string{"fast-leader-failover-5x"},
		"crashes at exponential intervals, down for as little as 200 ms (Stats.Crashes, Stats.LeaderChanges)"},
	{"B5", "unclean-election divergence, consumer skip, zombie replica",
		[]string{"isolated-leader-acks1", "follower-truncation", "unclean-election", "truncation-between-fetch-plan-and-read", "zombie-leader-read-after-unclean-election"},
		"acks=1 producers with partitions and crashes (Stats.Truncations); consumers' positions past a truncation are checked (Q9, seeks)"},
	{"B6", "last replica standing",
		[]string{"last-replica-standing", "metadata-lag-min-isr-raised"},
		"starveISR with power losses (Stats.Partitions, Stats.PowerLosses); the operator's min.insync.replicas settings, which clear or fill the ELR (faults_operator.go; Stats.MinISRChanges), raised while a leader's metadata lags (the metalag profile: Stats.LaggedAlterPartitionsRefused)"},
	{"B7", "idempotent-producer duplicates",
		[]string{"pipelined-producer-leader-killed"},
		"pipelined transactional producers and copiers (Stats.TxnBatchesPipelined, TxnBatchesRefusedRetried); idempotent producers (profile's IdempotentProducers)"},
	{"B8", "inconsistent offsets under pause/kill",
		[]string{"leader-killed-acks-all"},
		"pauses and crashes (Stats.Pauses, Stats.Crashes)"},
	{"B9", "LSO off-by-one exposes aborted data",
		[]string{"read-committed-at-lso-while-aborting"},
		"a read_committed consumer beside aborting transactional producers (profile's ReadCommitted; Stats.TxnAborts)"},
	{"B10", "torn transaction via coordinator mis-routing",
		[]string{"coordinator-failover-mid-transaction", "leadership-change-between-load-plan-and-read"},
		"copiers' transactional offset commits while coordinators crash (profile's Copiers; Stats.Transactions, LoadReadsRaced)"},
	{"B11", "hanging transaction, delayed produce joins the next",
		[]string{"delayed-produce-after-abort", "kip890-epoch-per-transaction"},
		"network delays and duplicates on transactional produces, swizzle-clogs delivering requests seconds late (Stats.MessagesDuplicated, VerificationSeqRefusals, MessagesClogged)"},
	{"B12", "delayed EndTxn decides a later transaction",
		[]string{"delayed-endtxn-after-timeout", "kip890-epoch-per-transaction", "zombie-producer-fenced"},
		"transactional producers with KIP-890 part 2 drawn per seed, network delays, swizzle-clogs delivering EndTxn seconds late (Stats.Transactions, MessagesClogged)"},
	{"B13", "consume-transform-produce duplicates",
		nil,
		"copiers (read_committed, copy in a transaction, commit offsets in it) with partitions and crashes (profile's Copiers; check Q12)"},
	{"B14", "group offsets diverge from their log",
		[]string{"coordinator-cut-off-from-controller"},
		"the compaction profile: __consumer_offsets compacted under group commits (Stats.Compactions)"},
	{"B15", "membership change with crashes",
		[]string{"controlled-shutdown", "controller-failover-topic-creation", "preferred-leader-back-under-load", "wiped-voter-rejoins", "wiped-voter-restarts-before-catching-up"},
		"controlled shutdowns and controller crashes (Stats.ControlledShutdowns, ControllerChanges); the whole cluster stopped at once, each node a controlled shutdown, and started again, as gregor cluster down and up (profile's ClusterDownEveryMs; Stats.ClusterDowns; the clusterdown profile; cluster_down.go); the operator's partition reassignments, to other brokers and one replica more or fewer, their cancellations and preferred leader elections (faults_operator.go; Stats.Reassignments, PreferredElections); the controllers' periodic preferred-leader elections (auto.leader.rebalance.enable, every 2 to 30 s: profile's LeaderBalanceEveryMs; check L4); with four nodes or more, a broker added to the running cluster (profile's LateJoinMs); the operator's unregistrations of brokers that are down, which register anew when they start (faults_operator.go; Stats.Unregistrations); nodes, voters among them, started again with an empty data directory, one at a time while the other voters form a quorum, which catch up and rejoin under their node id (profile's WipeEveryMs; Stats.DataWipes; the wipe profile; data_wipe.go); changing the controllers is not played"},
	{"B16", "disruptive servers, livelock",
		[]string{"isolated-voter-heals", "restarted-voter-grants-no-vote", "deposed-controller-grants-no-lease"},
		"partitions of every shape, one-way link faults, swizzle-clogs (Stats.Partitions, LinkFaults, Clogs)"},
	{"B17", "clock faults",
		[]string{"wall-clock-steps", "drifting-clocks-cut-off-coordinator", "drifting-clocks-beyond-the-margin"},
		"wall clock jumps of up to an hour either way (Stats.ClockJumps); clocks, monotonic and wall, that run up to 5% fast or slow, their rates drawn again (profile's ClockDriftPermille, ClockDriftEveryMs; Stats.ClockDrifts; the drift profile; the clock-drift plant, beyond the margin, is caught by S10); producers' timestamps days to years in the past or hours in the future, and wrong batch headers (profile's TimestampSkewShare; Stats.SkewedTimestamps, TimestampRefusals; the timestamps profile; check Q13)"},
	{"B18", "disk faults",
		[]string{"disk-eio-and-torn-tail", "disk-eio-every-operation", "disk-full-leader-comes-back"},
		"EIO on writes and fsyncs or (profile's DiskFaultAllOps) on every operation, and full disks, the node's or its log.dirs' alone (Stats.DiskFaults, DiskErrors, OfflineReplicas, OfflineRetries); power losses tear the last unsynced write (Stats.PowerLosses); slow disks whose follower appends complete a drawn time later, often beyond the fetcher's outcome wait (profile's SlowDiskEveryMs; Stats.SlowDisks, SlowAppends, SlowAppendsPastWait; the slowdisk profile), and whose leader appends hold the partition, its other work waiting behind them (profile's SlowLeaderAppends; Stats.SlowLeaderAppends; the slowleader profile); power losses that also remove or damage compacted partitions' recovery-point checkpoints, so that recovery rescans logs compaction left with gaps (profile's CheckpointLossShare; Stats.CheckpointsLost; the recovery profile; check R1); power losses of broker-only nodes that take their whole metadata log, so they rejoin the quorum empty under the same leader (profile's MetadataLogLossShare; Stats.MetadataLogsLost; the recovery profile with four nodes or more); whole data directories wiped, metadata log and partition logs (profile's WipeEveryMs; Stats.DataWipes; the wipe profile)"},
	{"B19", "loss in a healthy cluster",
		nil,
		"gregor sim swarm --profile quiet (no faults)"},
	{"B20", "client-library bugs that look like broker bugs",
		nil,
		""},
	{"B21", "auto-commit misunderstood",
		[]string{"auto-commit-crash-between-polls"},
		"auto-committing group members (profile's AutoCommitShare) whose processes crash between polls and start again (Stats.MemberCrashes; profile \"group member crashes every\")"},
}

// ClassSuites are the bug classes played outside the simulator, by real
// clients' own test suites run against gregor nodes: class ID to the
// suite, how to run it and what it covers. TestBugClasses checks each
// names a class and that its script is there.
var ClassSuites = map[string]string{
	"B20": "scripts/clientsuite (make clientsuite, part of make test): franz-go's kgo integration tests against a three-node " +
		"cluster at replication factor 3: TestGroupETL and TestTxnEtl (chains of classic, KIP-848 and static consumer " +
		"groups, exactly-once in transactions under read_committed) with KGO_TEST_CHAOS=1 (every client connection cut " +
		"0.5-1.5 s after it opens), and the produce/consume tests of issues franz-go met with real brokers",
}

// OtherScenarios are the named scenarios of gregor's own bug classes, none
// of CORRECTNESS.md §3's.
var OtherScenarios = []string{"compaction-empty-stretch", "paused-broker-keeps-partitions", "compaction-empty-prefix", "topic-recreated-while-a-replica-is-down",
	"abort-lost-to-power-loss-then-commit"}

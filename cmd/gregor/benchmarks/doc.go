// Package benchmarks measures a single gregor node end to end, as a Kafka
// client sees it, beside the references it is judged against. It has no code
// outside its tests and no Test functions: everything runs under -bench only,
// so `make test` only compiles it, and the broker binary is built the first
// time a benchmark needs it.
//
// Every benchmark runs the same franz-go client (kgo) with the same settings
// against each target (but the client=kmsg-raw cells of
// BenchmarkTransactions, which run a load generator of their own, below):
//
//   - gregor: the gregor binary built from this tree, started once per process
//     as `gregor serve` over a fresh data directory with default settings. Its
//     CPU time comes from /proc (Linux: the threads' schedstat run times, in
//     nanoseconds, else utime+stime in 10 ms ticks), so each gregor run also
//     reports ns-cpu/rec, the broker's CPU time per record (1000 ns-cpu/rec
//     = 1 CPU second per million records), and broker-cpu-%, its CPU time
//     over the wall time measured (two cores = 200%). Its heap allocations
//     come from its metrics listener (go_memstats_mallocs_total and
//     go_memstats_alloc_bytes_total of Prometheus's Go collector, read
//     before and after the measured stretch, outside the timer and the CPU
//     window, less what one scrape itself allocates), reported as
//     allocs/rec and alloc-B/rec. The runtime counts small objects a span at
//     a time, so a reading lags by up to a few thousand objects: close over
//     a full record set, rough under -short (±0.1 allocs/rec or so on the
//     100k × 1 KiB set's tenth).
//   - ref-kfake: franz-go's in-memory fake broker (pkg/kfake) with one node,
//     running inside the benchmark process (so it never touches a disk).
//   - ref-kfake-process: the same kfake as a process of its own
//     (testdata/kfakeserver), a process boundary away from the client as
//     gregor is, with its CPU read from /proc like gregor's and its
//     allocations from the same two counters, which it serves on a metrics
//     address of its own (computed as the Go collector computes them).
//     In-process kfake hands bytes between goroutines of one process;
//     across processes every socket wake-up crosses to another process,
//     which costs a latency-bound single-partition consumer most. This reference shows
//     how much of a gap is that boundary and how much is gregor.
//   - ref-tcp: raw loopback TCP, the physical limit: one goroutine writes the
//     same records' bytes, each record's payload plus 10 bytes (about what a
//     Kafka v2 record without key or headers adds: length, attributes,
//     timestamp and offset deltas, key and value lengths, header count), in
//     64 KiB writes to a socket whose peer reads and discards them.
//
// Before each measured window the harness waits until the broker process is
// idle (it ran under 2 ms of CPU in 20 ms, for at most 5 s), so that work
// left by what came before (the previous iteration's topic deletion: logs
// closed and synced, files removed) is not counted in the window.
//
// The benchmark process allocates a 256 MiB heap ballast it never touches,
// so that its clients' garbage collection does not depend on what the
// in-process kfake happens to hold (see clientHeapBallast in harness_test.go:
// without it the consume cell that runs first, gregor's 100 B on one
// partition, was measured with a client three times slower than the
// kfake-process cell measured after it).
//
// Reading the figures: the first iteration in a process costs the most for
// both brokers (gregor's buffer pools fill, kfake's heap grows), and on
// virtual machines that fault memory in lazily (this one is PVM, with free
// page reporting: freshly allocated memory costs several microseconds per
// 4 KiB page the first time user code, and again the first time the kernel,
// touches it) that first pass can cost several times the next ones. Take
// medians of -count 3 or more, and run the cells to compare in one process
// (one go test invocation), as make bench does.
//
// Client settings, identical for gregor and kfake: idempotent writes off
// (the cells predate gregor's InitProducerId; kept for comparable figures),
// five produce requests in flight per broker as an idempotent producer would
// have, linger 0, 1 MiB
// batches, up to 1M buffered records, round-robin partitioning, no
// compression. Each iteration uses a fresh topic (created and deleted outside
// the timer), so data never accumulates.
//
// The benchmarks (leaf names pair gregor with ref-<what> for cmd/benchreport):
//
//	BenchmarkProduce/rec=100B/parts=1/acks=all/{gregor,ref-kfake,ref-kfake-process,ref-tcp}
//	    one iteration produces the whole record set (1M × 100 B or
//	    100k × 1 KiB) asynchronously and waits for every acknowledgement
//	    (on this one node, acks=all is the acks=1 work plus the
//	    high-watermark step, the leader being the whole ISR);
//	    MB/s of payload, records/s, and for gregor and ref-kfake-process
//	    ns-cpu/rec, allocs/rec and alloc-B/rec; and the layout the producer
//	    sent, rec/batch and batch/req (with linger 0, records queue while
//	    requests are in flight, so a broker that answers sooner gets smaller
//	    batches, and pays its per-batch and per-request costs over fewer
//	    records).
//	BenchmarkConsume/rec=100B/parts=1/{gregor,ref-kfake,ref-kfake-process,ref-tcp}
//	    the record set is produced once and read once (both outside the
//	    timer: the first read warms both the broker and the client); one
//	    iteration is a new client reading all of it from the start; same
//	    metrics, and how
//	    the broker served the fetches as the client saw them: fetch-KB (bytes
//	    per Fetch answer), read-us (from the start of reading an answer, which
//	    waits for its first byte, to its last byte), gap-us (the client's own
//	    work from one answer's last byte to the next Fetch) and rec/batch (the
//	    layout the produce phase left: kgo with linger 0 makes batches as
//	    large as the records that queued while earlier requests were in
//	    flight, so a broker that acknowledges sooner holds smaller batches,
//	    and a Fetch of whole batches under the 1 MiB partition limit stops
//	    short of it by up to a batch).
//	BenchmarkLatency/rate=10k/rec=100B/{gregor,ref-kfake,ref-kfake-process}
//	    a producer (linger 0, acks all) paced at 10k records/s and a consumer
//	    (FetchMaxWait 10 ms, the least kgo allows) on one partition; latency
//	    is the consumer's receive time minus the producer's Produce call time,
//	    both from the benchmark's monotonic clock (the value carries it; the
//	    Kafka timestamp only has milliseconds). Reports p50-us, p99-us,
//	    p999-us, records/s (the pace achieved) and the mean as ns/op, over
//	    25k records per iteration after a warm-up; for a broker in a process
//	    of its own, also its CPU time per paced record (ns-cpu/rec) and its
//	    threads' context switches per thousand (switches/krec), warm-up
//	    included.
//	BenchmarkGroupRebalance/{eager,cooperative,kip848}/{gregor,ref-kfake}
//	    (groups_test.go) ten members of a group over 20 partitions; a round
//	    is an eleventh joining, timed until every member holds a share and
//	    every partition is held once, as the members' own callbacks tell;
//	    p50-ms and p99-ms over 20 rounds per iteration. Eager is the range
//	    balancer, cooperative the cooperative-sticky one, kip848 the
//	    server's uniform assignor. Both brokers are instances of their own
//	    for group work: gregor with group.initial.rebalance.delay.ms=0, and
//	    a KIP-848 heartbeat interval of 50 ms on both (members heartbeat at
//	    that interval in every protocol), so rebalances are not dominated by
//	    timers.
//	BenchmarkOffsetCommit/parts=10/{gregor,ref-kfake,ref-kfake-process}
//	    four committers, each committing ten partitions' offsets to a group
//	    of its own, one commit after another; commits/s, a commit's p50-us
//	    and p99-us, and ns-cpu/commit and switches/commit (the broker's
//	    threads' context switches) for gregor and ref-kfake-process.
//	BenchmarkTransactions/rec=100B/parts=6/mode={txn100,idempotent}/{gregor,ref-kfake,ref-kfake-process}
//	    (txn_test.go) 100k × 100 B to six partitions, acks all, linger 0:
//	    in transactions of 100 records committed one after another, or with
//	    the idempotent producer and no transactions, the figure the first is
//	    held to (60% or more); records/s and the per-record costs. One
//	    aborted transaction before the window finds the coordinator; the
//	    idempotent producer produces one record before the window.
//	BenchmarkTransactions/rec=100B/parts=6/producers={4,16}/mode=ratio/{gregor,ref-kfake,ref-kfake-process}
//	    the same 100k records split among 4 or 16 producers at once, each a
//	    client of its own (and a transactional id of its own), in
//	    transactions of 100, beside as many idempotent producers at once;
//	    txn/idempotent, each mode's records/s and broker CPU per record,
//	    and the brokers' context switches per transaction (and per 100
//	    idempotent records).
//	    One producer's transactions wait on its round trips; several at once
//	    measure what the broker can do.
//	BenchmarkTransactions/rec=100B/parts=6/producers={4,16}/mode=txn100/{gregor,ref-kfake-process}
//	    the transactions of those cells alone, with no idempotent run
//	    between: the cells to profile the broker in (records/s and the
//	    per-record costs of transactions only).
//	BenchmarkTransactions/rec=100B/parts=6/client=kmsg-raw/producers={1,4,16}/mode={txn100,idempotent,ratio}/{gregor,ref-kfake,ref-kfake-process}
//	    (rawtxn_test.go) the same records, transactions and idempotent
//	    runs, but from a load generator written on kmsg over raw TCP
//	    instead of franz-go, whose own CPU per transactional record
//	    (~2,000 ns, against ~520 per idempotent one) bounds the franz-go
//	    cells' ratio on a 2-core machine: these cells show what the broker
//	    can do. It is no product client. Each producer has one connection
//	    of its own to the one broker node (it refuses a topic led by
//	    several, or a coordinator elsewhere) and its own producer id; a
//	    transaction is one Produce of 100 records over the six partitions
//	    (a batch of 16-17 records each; Produce v12 with no
//	    AddPartitionsToTxn where the broker finalizes transaction.version
//	    2, as both brokers do, else AddPartitionsToTxn first), acks=all,
//	    then EndTxn commit, whose answer (transaction.version 2) gives the
//	    next transaction's bumped epoch; an idempotent producer sends the
//	    same Produces, sequences running on, five in flight. No batching,
//	    lingering, compression, metadata refresh, failover or retries but
//	    of CONCURRENT_TRANSACTIONS (counted: retries/txn). Every answer is
//	    checked (error codes, every partition answered once, base offsets
//	    rising, every record acknowledged), and after each run the
//	    partitions' end offsets must sum to exactly the records and
//	    markers written (none lost, none twice) and, for transactions, the
//	    last stable offsets reach them; any failure fails the benchmark.
//	    One aborted transaction of one record (idempotent: one record) per
//	    producer before the window. mode=ratio reports what the franz-go
//	    ratio cells do (txn/idempotent, each mode's records/s, broker
//	    CPU per record and switches, client CPU per record); txn100 and
//	    idempotent alone report records/s, ns-cpu/rec and client-ns/rec;
//	    the transactional cells also produce-us and endtxn-us (the mean
//	    Produce and EndTxn round trips: where a transaction's wall time
//	    goes).
//	BenchmarkPhysical/rec={100B,1KiB}/{tcp,disk-append,crc32c}
//	    (physical_test.go) the kernel's and the CPU's floors for one copy of
//	    a record set, in this process: a loopback TCP transfer, an append to
//	    a new file (no fsync) and a CRC-32C pass; ns-cpu/rec to set beside
//	    the brokers' per-copy costs (the replication cell's three copies).
//
// The matrix is the in full: 1M × 100 B and 100k × 1 KiB, 1 and 6
// partitions, acks 1 and all for produce (8 cells), the same record sets and
// partition counts for consume (4 cells), and the latency run. One round
// takes about 130 s on two cores, so `make bench` (-count 3) spends about
// 7 minutes here. benchreport prints, besides the ratios, a table of
// gregor's CPU and allocations per record beside ref-kfake-process's for
// every cell. The cells of the data-path issue (produce 100 B on 1 and 6
// partitions, produce 1 KiB on 6, consume 1 KiB on 6; -bench patterns match
// level by level, so the first command adds produce 1 KiB on 1) alone,
// quickly:
//
//	B='go test -short -run ^$ -benchtime 1x ./cmd/gregor/benchmarks -bench'
//	{ $B 'Produce/./parts=./acks=all/(gregor|ref-kfake-process)$'
//	  $B 'Consume/rec=1KiB/parts=6/(gregor|ref-kfake-process)$'; } | go run ./cmd/benchreport
//
// Knobs, all optional:
//
//   - -short runs every record count at a tenth (unless GREGOR_BENCH_SCALE
//     is set): a round in well under a minute.
//   - GREGOR_BENCH_SCALE=0.01 multiplies every record count (and the latency
//     run's) by that factor, for trying the benchmarks out on a busy machine:
//     GREGOR_BENCH_SCALE=0.01 go test -run '^$' -bench . -benchtime 1x ./cmd/gregor/benchmarks
//   - GREGOR_BENCH_BIN=path runs that gregor binary instead of building
//     this tree's (another revision's, to compare two builds under the same
//     load: run both in turn, with the same -bench pattern).
//   - GREGOR_BENCH_BALLAST_MB=n sets the client heap ballast to n MiB (0:
//     none, which reproduces the unfairness it removes).
//   - GREGOR_BENCH_PORTS=LOW-HIGH takes the single-node brokers' ports
//     (gregor's and kfake-process's listener and metrics addresses) from
//     that range instead of letting the kernel pick them (and the three-node
//     clusters' from it, instead of 20000-49999), for machines
//     where each user of loopback keeps to a range of its own.
//   - GREGOR_BENCH_RAW_TXN_VERSION=1 makes the client=kmsg-raw cells'
//     transactional producers add their partitions with AddPartitionsToTxn
//     (Produce up to v11, EndTxn up to v4) even where the broker finalizes
//     transaction.version 2.
//   - GREGOR_BENCH_SET="key=value ..." starts gregor with those settings
//     (each becomes a --set), e.g. socket.send.buffer.bytes=-1.
//   - GREGOR_BENCH_RF3_ACKS1=1 adds the replication cell
//     ref-gregor-rf3-acks1: replication factor 3 answered at acks=1, the
//     brokers' replication work without the producer waiting for it.
//   - GREGOR_BENCH_RF1_COPIES=0 leaves out the replication cell's floor,
//     ref-gregor-rf1-x3-acks1 (every record stored three times without
//     replication).
//   - GREGOR_BENCH_CLUSTER_WARMUP=0 skips the three-node cluster's warm-up
//     (a produce of every record set, whose pages the cells then reuse).
//   - GREGOR_BENCH_PERF=PREFIX records every measured window with Linux
//     perf (`perf record -g` over the brokers and the benchmark process,
//     kernel included) into PREFIX.N.data; GREGOR_BENCH_PERF_EVENTS=EVENTS
//     records those events instead (e.g. raw_syscalls:sys_enter).
//   - GREGOR_BENCH_PPROF="PREFIX SECONDS ADDR..." takes a Go CPU profile of
//     SECONDS from each ADDR (a debug.listener: with the cluster,
//     GREGOR_BENCH_CLUSTER_SET="debug.listener=127.0.0.1:P" gives node i
//     P+i-1) at the start of every window, into PREFIX.N.I.pprof (and
//     the same seconds' allocations into PREFIX.N.I.allocs.pprof).
//
// The goals (issue): produce and consume at 70% or more of kfake's MB/s
// (benchreport prints the ratio to both kfake references),
// broker CPU at 500 ns-cpu/rec or less for 100 B records, end-to-end p99 at
// 1500 us or less; `make bench` prints medians of 3 runs and the ratios.
package benchmarks

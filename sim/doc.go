// Package sim is the deterministic simulator: it plays a whole gregor
// cluster (brokers with the metadata quorum, the controller, leader and
// follower replicas, fetchers) and its clients on one goroutine, in
// virtual time, through crashes, partitions, pauses, clock jumps and disk
// faults, and checks Kafka's guarantees after every event and over the
// history of client operations (CORRECTNESS.md §2).
//
// It drives the real cores of cluster and cluster/quorum over logstore and
// logstore/raftlog on a vfs.Mem per node; its shells (node*.go) carry out
// the cores' effects as the actors do in production. Everything random
// comes from the run's seed, split per subsystem (network, disk, faults,
// workload, membership, ids, and raft's election jitter through
// crypto/rand.Reader for the run's duration): the same seed gives the same
// run, event for event.
//
// It may import cluster, groups, txn and logstore; never actors or netio,
// so no protoactor, serf, ristretto, goroutine, socket or wall clock enters
// a simulation. Nothing imports sim but the gregor command.
//
// Concurrency: a run is single-threaded; runs in one process are
// serialised (they share crypto/rand.Reader). Parallel runs use processes.
package sim

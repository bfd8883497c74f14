// Package sim is the deterministic simulator: it drives the cores of cluster,
// groups, txn and logstore (on the in-memory filesystem) on one goroutine with a
// virtual clock, a simulated network and membership, workloads, fault schedules
// and checkers. Same seed, same run.
//
// It may import cluster, groups, txn and logstore; never actors or netio, so no
// goroutine, socket or wall clock enters a simulation. Nothing imports sim but
// the gregor command.
//
// Concurrency: single-threaded by design.
package sim

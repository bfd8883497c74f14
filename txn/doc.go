// Package txn holds the producer-state and transaction coordinator cores
// (producer ids, epochs and sequences; KIP-98 transactions).
//
// It may import logstore only; never actors, netio, cluster, groups or sim.
//
// Concurrency: cores are plain values with no goroutines, clocks or I/O; the
// caller serialises every call.
package txn

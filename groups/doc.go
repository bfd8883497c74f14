// Package groups holds the consumer group coordinator core: the classic and
// KIP-848 group state machines and committed offsets state.
//
// It may import logstore only; never actors, netio, cluster, txn or sim.
//
// Concurrency: cores are plain values with no goroutines, clocks or I/O; the
// caller serialises every call.
package groups

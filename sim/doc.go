// Package sim is reserved for the deterministic simulator (the simulator
// issue). It holds no code yet.
//
// Rules for what will live here: it may import cluster, groups, txn and
// logstore (on the in-memory filesystem); never actors or netio, so no
// protoactor, serf, ristretto, goroutine, socket or wall clock enters a
// simulation. Nothing imports sim but the gregor command. It is
// single-threaded by design.
package sim

// Package groups is reserved for the consumer group coordinator core (the
// consumer groups issue). It holds no code yet: gregor serves no group APIs,
// so clients must assign partitions themselves.
//
// Rules for what will live here: it may import logstore only; never actors,
// netio, cluster, txn or sim. Its cores are plain values with no goroutines,
// clocks, sockets, files or randomness of their own (purity_test.go at the
// repository root enforces this); the caller serialises every call.
package groups

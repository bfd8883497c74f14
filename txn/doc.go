// Package txn is reserved for the producer-state and transaction coordinator
// cores (the idempotent and transactional producers issue). It holds no code
// yet: InitProducerId is not served, so producers run without idempotence.
//
// Rules for what will live here: it may import logstore only; never actors,
// netio, cluster, groups or sim. Its cores are plain values with no
// goroutines, clocks, sockets, files or randomness of their own
// (purity_test.go at the repository root enforces this); the caller
// serialises every call.
package txn

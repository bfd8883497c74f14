// Package quorum is the metadata quorum's core: an etcd raft node
// (go.etcd.io/raft/v3 RawNode) among the controller voters of
// controller.quorum.voters, whose log entries each carry one encoded
// cluster.MetadataBatch. Brokers that are not voters follow as raft learners.
// The raft index of an entry is its metadata offset.
//
// The core decides and never does: time arrives as Tick(now), messages as
// Step, proposals as Propose; Ready hands out what to persist (through
// logstore/raftlog), the messages to send, the metadata batches to apply in
// order, the fate of proposals and changes of leadership, and Advance says
// it was carried out. See Ready for the order a caller must keep.
//
// It may import cluster and logstore (raftlog's State and Update) and
// nothing else of gregor. It passes the purity guard: no clock, timers,
// goroutines, os, net or randomness of its own. The one exception is inside
// the raft library: its election timeouts are jittered with crypto/rand
// (raft.go's globalRand); the simulator replaces crypto/rand.Reader with a
// seeded reader (tests: testing/cryptotest.SetGlobalRandom), so elections
// replay too. Nothing here ranges over a map where order matters.
//
// Concurrency: a Quorum is a plain value; the caller serialises every call.
package quorum

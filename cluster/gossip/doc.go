// Package gossip is the node's serf membership: who is in the cluster, at
// which addresses, and who joined, changed, left or failed. It is the one
// package that imports serf and memberlist (layering_test.go), and the one
// folder under cluster exempt from the purity guard: it runs serf's
// goroutines, timers and sockets.
//
// Gossip informs; it never decides. The controller learns from it early that
// a broker may be gone (its heartbeats decide), and nodes learn each other's
// addresses; leadership and membership of the metadata quorum come from raft.
//
// A node's gossip name is derived from its node id ("gregor-<id>"), stable
// across restarts, so a restarted node rejoins under its name: on the same
// address at once; on a new one once the old incarnation was reported dead
// for Timings.DeadNodeReclaimTime. A second live node with the same id is
// refused: its Join fails with ErrNameConflict and the running node reports
// a NameConflict event.
//
// Concurrency: a Node's methods are safe for concurrent use. serf's event
// channel is drained by a goroutine that never blocks serf; it hands events to
// a queue that keeps, per member, the latest news not yet delivered, and a
// second goroutine calls Config.OnEvent with them in order. OnEvent may be
// slow: serf never waits for it, and nothing but superseded news about the
// same member is dropped.
//
// Files: config.go (Config, Timings and their LAN profile), node.go
// (Start, Join, Leave, Shutdown, tags, members), events.go (the event queue
// and its goroutines), conflict.go (the name conflict guard), log.go (serf's
// log lines through zap).
package gossip

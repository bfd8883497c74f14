// Package cluster holds the replication and metadata cores: the partition replica
// (log end offset, high watermark, ISR, leader epochs, truncation; leader or
// follower), the replica fetcher of one source broker, the Fetch request that
// waits for data, the controller, the metadata image and the Raft metadata quorum, a
// node's record of its offline replicas and when each starts again (OfflineReplicas,
// offline_replicas.go: when a replica goes offline the replica core decides, Ready.Fatal).
// Its subpackages are the metadata quorum's raft core (cluster/quorum) and
// gossip membership over serf (cluster/gossip, the only importer of serf);
// the interface the node holds gossip by is actors' Membership.
//
// It may import logstore and nothing else of gregor; never protoactor, serf
// (outside its subpackage), netio, groups, txn, actors or sim.
//
// Concurrency: cores are plain values with no goroutines, clocks, sockets or
// files; the caller serialises every call. Time arrives as an argument. The
// one exception is a FetchView (fetch_view.go): a snapshot a replica's shell
// copies out and publishes, immutable from then on, whose methods any
// goroutine may call.
package cluster

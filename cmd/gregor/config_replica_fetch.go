package main

import (
	"strconv"

	"gregor/cluster"
)

// replicaFetchSettings are the replica fetcher's keys (Kafka's
// replica.fetch.*): what a follower asks of its leader in each Fetch, and
// how long it waits after a failed one.
type replicaFetchSettings struct {
	ReplicaFetchMaxBytes         int32 // replica.fetch.max.bytes: per partition, at least one batch
	ReplicaFetchMinBytes         int32 // replica.fetch.min.bytes
	ReplicaFetchWaitMaxMs        int32 // replica.fetch.wait.max.ms
	ReplicaFetchResponseMaxBytes int32 // replica.fetch.response.max.bytes: per response, at least one batch
	ReplicaFetchBackoffMs        int32 // replica.fetch.backoff.ms
	FetchSessionCacheSlots       int32 // max.incremental.fetch.session.cache.slots: the leader's side of replica (and client) Fetches
}

// replicaSocketTimeoutMs is Kafka's replica.socket.timeout.ms default, which
// gregor's fetcher uses as its fixed request timeout beyond the wait: a
// Fetch may not be asked to wait longer.
const replicaSocketTimeoutMs = 30_000

// replicaFetchConfigKeys are the replica fetcher's keys, with Kafka's
// defaults and ranges (a wait or a minimum of zero would spin the fetcher,
// so both start at 1).
var replicaFetchConfigKeys = []configKey{
	byteCountKey("replica.fetch.max.bytes", strconv.Itoa(cluster.DefaultReplicaFetchMaxBytes), atLeastZero[int32](),
		func(c *brokerConfig) *int32 { return &c.ReplicaFetchMaxBytes },
		"bytes a follower asks for per partition in each Fetch (a first batch larger than this still comes whole)"),
	byteCountKey("replica.fetch.min.bytes", "1", positive[int32](), func(c *brokerConfig) *int32 { return &c.ReplicaFetchMinBytes },
		"bytes a leader waits to have for a follower before it answers its Fetch"),
	integerKey("replica.fetch.wait.max.ms", strconv.Itoa(cluster.DefaultReplicaFetchWaitMaxMs),
		integerRange[int32]{minimum: 1, maximum: replicaSocketTimeoutMs},
		func(c *brokerConfig) *int32 { return &c.ReplicaFetchWaitMaxMs },
		"longest a leader holds a follower's Fetch waiting for replica.fetch.min.bytes; at most replica.lag.time.max.ms"),
	byteCountKey("replica.fetch.response.max.bytes", strconv.Itoa(cluster.DefaultReplicaFetchResponseMaxBytes), atLeastZero[int32](),
		func(c *brokerConfig) *int32 { return &c.ReplicaFetchResponseMaxBytes },
		"bytes a follower asks for in each Fetch over all its partitions (a first batch larger than this still comes whole)"),
	integerKey("replica.fetch.backoff.ms", strconv.Itoa(cluster.DefaultReplicaFetchBackoffMs), atLeastZero[int32](),
		func(c *brokerConfig) *int32 { return &c.ReplicaFetchBackoffMs },
		"how long a follower waits after a failed Fetch before it tries that partition again"),
	integerKey("max.incremental.fetch.session.cache.slots", strconv.Itoa(cluster.DefaultFetchSessionCacheSlots), atLeastZero[int32](),
		func(c *brokerConfig) *int32 { return &c.FetchSessionCacheSlots },
		"most fetch sessions (KIP-227) the broker keeps for followers and consumers, whose Fetches then list only the partitions that changed; 0 serves every Fetch in full"),
}

// checkReplicaFetch checks what Kafka checks across the replica fetcher's
// keys: a follower whose Fetch may wait longer than replica.lag.time.max.ms
// would drop out of the ISR while it waits.
func (c *brokerConfig) checkReplicaFetch() error {
	if int64(c.ReplicaFetchWaitMaxMs) > c.ReplicaLagTimeMaxMs {
		return c.invalid("replica.fetch.wait.max.ms", "at most replica.lag.time.max.ms ("+strconv.FormatInt(c.ReplicaLagTimeMaxMs, 10)+
			"), so that a follower's waiting Fetch does not take it out of the ISR")
	}
	return nil
}

package actors

import (
	"errors"
	"testing"

	"gregor/cluster"
)

// fetcherRequestOf builds the fetcher core cfg makes for leader 2, hands it
// one fetching partition and returns the Fetch it asks for, with the core.
func fetcherRequestOf(t *testing.T, static map[string]string) (*cluster.Fetcher, int64, int32, int32, int32, int32) {
	t.Helper()
	f := cluster.NewFetcher(replicaFetcherConfig(Config{NodeID: 1, StaticBrokerConfigs: static}, 2, 7))
	now := cluster.Instant{MonoMs: 1000}
	p := cluster.FetcherPartition{Topic: "t", TopicID: cluster.TopicID{1}, Partition: 0}
	f.SetPartition(p, cluster.FollowerFetchState{Seq: 1, Leader: 2, CurrentLeaderEpoch: 3, Phase: cluster.FollowerFetching, FetchOffset: 10}, now)
	req := f.Ready().Fetch
	if req == nil || len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
		t.Fatalf("fetcher asked for %+v, want a Fetch of one partition", req)
	}
	// A failed Fetch backs the partition off for replica.fetch.backoff.ms.
	f.FetchCompleted(nil, errors.New("connection refused"), now)
	f.Ready()
	return f, f.NextDeadlineMs() - now.MonoMs, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes
}

// TestReplicaFetchSettingsReachTheFetcher checks that each replica.fetch.*
// value server.properties sets (in the canonical form cmd/gregor hands the
// node) is what the fetcher's requests carry, and that absent ones are
// Kafka's defaults.
func TestReplicaFetchSettingsReachTheFetcher(t *testing.T) {
	tests := []struct {
		name                                        string
		static                                      map[string]string
		backoffMs                                   int64
		maxWaitMs, minBytes, maxBytes, partMaxBytes int32
	}{
		{name: "defaults", static: map[string]string{},
			backoffMs: 1000, maxWaitMs: 500, minBytes: 1, maxBytes: 10 << 20, partMaxBytes: 1 << 20},
		{name: "set", static: map[string]string{"replica.fetch.max.bytes": "4096", "replica.fetch.min.bytes": "100",
			"replica.fetch.wait.max.ms": "250", "replica.fetch.response.max.bytes": "65536", "replica.fetch.backoff.ms": "300"},
			backoffMs: 300, maxWaitMs: 250, minBytes: 100, maxBytes: 65536, partMaxBytes: 4096},
		{name: "zeros", static: map[string]string{"replica.fetch.max.bytes": "0", "replica.fetch.response.max.bytes": "0",
			"replica.fetch.backoff.ms": "0"},
			backoffMs: 1, maxWaitMs: 500, minBytes: 1, maxBytes: 1, partMaxBytes: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, backoffMs, maxWait, minBytes, maxBytes, partMaxBytes := fetcherRequestOf(t, tt.static)
			if maxWait != tt.maxWaitMs || minBytes != tt.minBytes || maxBytes != tt.maxBytes || partMaxBytes != tt.partMaxBytes {
				t.Errorf("Fetch max wait %d ms, min %d B, max %d B, partition max %d B; want %d, %d, %d, %d",
					maxWait, minBytes, maxBytes, partMaxBytes, tt.maxWaitMs, tt.minBytes, tt.maxBytes, tt.partMaxBytes)
			}
			if backoffMs != tt.backoffMs {
				t.Errorf("backoff after a failed Fetch %d ms, want %d", backoffMs, tt.backoffMs)
			}
		})
	}
}

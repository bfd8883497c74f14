package main

import (
	"errors"
	"strings"
	"testing"
)

// TestReplicaFetchKeysReachTheNode sets every replica.fetch.* key and checks
// the node is handed each in the plain form its fetcher reads
// (actors.TestReplicaFetchSettingsReachTheFetcher takes it from there),
// and that the defaults are Kafka's.
func TestReplicaFetchKeysReachTheNode(t *testing.T) {
	cfg, logs, err := buildFromOverrides(t, "replica.fetch.max.bytes=4KiB", "replica.fetch.min.bytes=100",
		"replica.fetch.wait.max.ms=250", "replica.fetch.response.max.bytes=64KiB", "replica.fetch.backoff.ms=300")
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	if n := logs.FilterMessage("unknown configuration key").Len(); n != 0 {
		t.Errorf("%d unknown-key warnings for replica.fetch.* keys", n)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	want := map[string]string{"replica.fetch.max.bytes": "4096", "replica.fetch.min.bytes": "100",
		"replica.fetch.wait.max.ms": "250", "replica.fetch.response.max.bytes": "65536", "replica.fetch.backoff.ms": "300"}
	for key, v := range want {
		if got.StaticBrokerConfigs[key] != v {
			t.Errorf("StaticBrokerConfigs[%s] = %q, want %q", key, got.StaticBrokerConfigs[key], v)
		}
	}

	defaults, _, err := buildFromOverrides(t)
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	kafka := map[string]string{"replica.fetch.max.bytes": "1048576", "replica.fetch.min.bytes": "1",
		"replica.fetch.wait.max.ms": "500", "replica.fetch.response.max.bytes": "10485760", "replica.fetch.backoff.ms": "1000"}
	for key, v := range kafka {
		if s := defaults.setting(key); s.Value != v || s.Source != "default" {
			t.Errorf("%s defaults to %q (%s), want Kafka's %q", key, s.Value, s.Source, v)
		}
	}
}

func TestReplicaFetchKeysInvalidValues(t *testing.T) {
	tests := []struct {
		settings []string
		key      string
		expected string
	}{
		{[]string{"replica.fetch.max.bytes=-1"}, "replica.fetch.max.bytes", "a byte count of at least 0"},
		{[]string{"replica.fetch.min.bytes=0"}, "replica.fetch.min.bytes", "a byte count of at least 1"},
		{[]string{"replica.fetch.wait.max.ms=0"}, "replica.fetch.wait.max.ms", "an integer from 1 to 30000"},
		{[]string{"replica.fetch.wait.max.ms=30001"}, "replica.fetch.wait.max.ms", "an integer from 1 to 30000"},
		{[]string{"replica.fetch.response.max.bytes=lots"}, "replica.fetch.response.max.bytes", "a byte count of at least 0"},
		{[]string{"replica.fetch.backoff.ms=-5"}, "replica.fetch.backoff.ms", "an integer of at least 0"},
		{[]string{"replica.lag.time.max.ms=1000", "replica.fetch.wait.max.ms=2000"}, "replica.fetch.wait.max.ms",
			"at most replica.lag.time.max.ms (1000)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.settings, ","), func(t *testing.T) {
			_, _, err := buildFromOverrides(t, tt.settings...)
			var valueErr *configValueError
			if !errors.As(err, &valueErr) {
				t.Fatalf("error %v, want a *configValueError", err)
			}
			if valueErr.Key != tt.key || !strings.Contains(err.Error(), tt.expected) {
				t.Errorf("error %q, want one for %s saying %q", err, tt.key, tt.expected)
			}
		})
	}
}

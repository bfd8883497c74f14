package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"gregor/actors"
	"gregor/cluster"
)

// testHostname stands in for os.Hostname.
func testHostname() (string, error) { return "gregor-host", nil }

// buildFromOverrides builds a configuration from --set style pairs, and
// returns it with the log lines building it wrote.
func buildFromOverrides(t *testing.T, pairs ...string) (*brokerConfig, *observer.ObservedLogs, error) {
	t.Helper()
	settings, err := collectSettings("(no file)", nil, pairs)
	if err != nil {
		t.Fatalf("collectSettings(%q): %v", pairs, err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	cfg, err := buildBrokerConfig(settings, configOptions{hostname: testHostname}, zap.New(core))
	return cfg, logs, err
}

// TestNodeConfigMapsEveryKey sets every key the issue lists (and the
// Kafka aliases) to a value other than its default and checks the whole
// actors.Config the node is started with.
func TestNodeConfigMapsEveryKey(t *testing.T) {
	cfg, _, err := buildFromOverrides(t,
		"node.id=7",
		"listeners=plaintext://127.0.0.1:19092",
		"advertised.listeners=PLAINTEXT://broker.example.com:29092",
		"log.dirs= /var/lib/gregor ",
		"num.partitions=6",
		"auto.create.topics.enable=FALSE",
		"message.max.bytes=2MiB",
		"log.segment.bytes=64MiB",
		"log.retention.ms=3600000 ", // a properties file keeps trailing space
		"log.retention.bytes=1GiB",
		"log.flush.interval.messages=1000",
		"log.flush.interval.ms=500",
		"socket.request.max.bytes=50MiB",
		"socket.receive.buffer.bytes=256KiB",
		"metrics.listener=127.0.0.1:19644",
		"debug.listener=127.0.0.1:19645",
		"log.roll.ms=60000",
		"log.flush.group.commit=true",
		"log.cache.bytes=0",
		"log.retention.check.interval.ms=1000",
		"log.cleaner.enable=false",
		"log.cleaner.backoff.ms=2000",
		"process.roles=broker",
		"controller.quorum.voters=1@10.0.0.1:9093,2@controller-2:9093",
		"broker.rack=r1",
		"gossip.listener=127.0.0.1:19101",
		"gossip.seeds=10.0.0.1:7946,10.0.0.2:7946",
		"broker.session.timeout.ms=9000",
		"broker.heartbeat.interval.ms=2000",
		"controller.quorum.election.timeout.ms=2000",
		"metadata.log.max.record.bytes.between.snapshots=1MiB",
		"metadata.log.dir=/var/lib/gregor-metadata",
		"controller.socket.timeout.ms=5000",
		"controlled.shutdown.drain.ms=2500",
		"auto.leader.rebalance.enable=false",
		"leader.imbalance.check.interval.seconds=30",
		"num.recovery.threads.per.data.dir=3",
	)
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	want := actors.Config{
		NodeID:                         7,
		Roles:                          actors.Roles{Broker: true},
		ListenerName:                   "PLAINTEXT",
		ControllerListenerName:         "CONTROLLER",
		QuorumVoters:                   []actors.QuorumVoter{{NodeID: 1, Address: "10.0.0.1:9093"}, {NodeID: 2, Address: "controller-2:9093"}},
		Rack:                           "r1",
		GossipListener:                 "127.0.0.1:19101",
		GossipSeeds:                    []string{"10.0.0.1:7946", "10.0.0.2:7946"},
		BrokerSessionTimeoutMs:         9000,
		BrokerHeartbeatIntervalMs:      2000,
		ShutdownDrainMs:                2500,
		LeaderImbalanceCheckIntervalMs: 30_000,
		QuorumElectionTimeoutMs:        2000,
		QuorumHeartbeatIntervalMs:      200,
		MetadataSnapshotIntervalBytes:  1 << 20,
		ControllerRequestTimeoutMs:     5000,
		ListenAddress:                  "127.0.0.1:19092",
		AdvertisedHost:                 "broker.example.com",
		AdvertisedPort:                 29092,
		DataDir:                        "/var/lib/gregor",
		MetadataLogDir:                 "/var/lib/gregor-metadata",
		AutoCreateTopics:               false,
		NumPartitions:                  6,
		DefaultReplicationFactor:       1,
		DeleteTopicEnable:              true,
		LogRecoveryThreads:             3,
		CacheBytes:                     0,
		GroupCommit:                    true,
		RequestMaxBytes:                50 << 20,
		MaxConnections:                 math.MaxInt32,
		SocketSendBufferBytes:          -1,
		SocketReceiveBufferBytes:       256 << 10,
		ConnectionsMaxIdleMs:           600_000,
		RetentionCheckIntervalMs:       1000,
		CleanerBackoffMs:               2000,
		ProducerIDExpirationMs:         86_400_000,
		DisableLogCleaner:              true,
		MetricsListener:                "127.0.0.1:19644",
		DebugListener:                  "127.0.0.1:19645",
		// Every value the node reads again must be in Kafka's plain form.
		StaticBrokerConfigs: map[string]string{
			"node.id":                      "7",
			"listeners":                    "PLAINTEXT://127.0.0.1:19092",
			"advertised.listeners":         "PLAINTEXT://broker.example.com:29092",
			"log.dirs":                     "/var/lib/gregor",
			"num.partitions":               "6",
			"auto.create.topics.enable":    "false",
			"auto.leader.rebalance.enable": "false",
			"leader.imbalance.check.interval.seconds":         "30",
			"message.max.bytes":                               "2097152",
			"log.segment.bytes":                               "67108864",
			"log.retention.ms":                                "3600000",
			"log.retention.bytes":                             "1073741824",
			"log.flush.interval.messages":                     "1000",
			"log.flush.interval.ms":                           "500",
			"socket.request.max.bytes":                        "52428800",
			"socket.receive.buffer.bytes":                     "262144",
			"metrics.listener":                                "127.0.0.1:19644",
			"debug.listener":                                  "127.0.0.1:19645",
			"log.roll.ms":                                     "60000",
			"log.flush.group.commit":                          "true",
			"log.cache.bytes":                                 "0",
			"log.retention.check.interval.ms":                 "1000",
			"log.cleaner.backoff.ms":                          "2000",
			"log.cleaner.enable":                              "false",
			"process.roles":                                   "broker",
			"controller.quorum.voters":                        "1@10.0.0.1:9093,2@controller-2:9093",
			"broker.rack":                                     "r1",
			"gossip.listener":                                 "127.0.0.1:19101",
			"gossip.seeds":                                    "10.0.0.1:7946,10.0.0.2:7946",
			"broker.session.timeout.ms":                       "9000",
			"broker.heartbeat.interval.ms":                    "2000",
			"controller.quorum.election.timeout.ms":           "2000",
			"metadata.log.max.record.bytes.between.snapshots": "1048576",
			"metadata.log.dir":                                "/var/lib/gregor-metadata",
			"controller.socket.timeout.ms":                    "5000",
			"controlled.shutdown.drain.ms":                    "2500",
			"num.recovery.threads.per.data.dir":               "3",
		},
	}
	want.HighWatermarkCheckpointIntervalMs = 5000 // replica.high.watermark.checkpoint.interval.ms
	want.Groups = defaultGroupConfig
	want.Txns = defaultTxnConfig
	want.StaticBrokerConfigs["broker.id"] = "7" // Kafka's alias of node.id, as DescribeConfigs lists it
	checkDefaultBrokerConfigs(t, cfg, &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodeConfig\n got %+v\nwant %+v", got, want)
	}
}

func TestNodeConfigDefaults(t *testing.T) {
	cfg, _, err := buildFromOverrides(t)
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	want := actors.Config{
		NodeID:                         1,
		Roles:                          actors.Roles{Broker: true, Controller: true},
		ListenerName:                   "PLAINTEXT",
		ControllerListenerName:         "CONTROLLER",
		BrokerSessionTimeoutMs:         actors.DefaultBrokerSessionTimeoutMs,
		BrokerHeartbeatIntervalMs:      actors.DefaultBrokerHeartbeatIntervalMs,
		ShutdownDrainMs:                actors.DefaultShutdownDrainMs,
		AutoLeaderRebalanceEnable:      true,
		LeaderImbalanceCheckIntervalMs: 300_000,
		QuorumElectionTimeoutMs:        1000,
		QuorumHeartbeatIntervalMs:      100,
		MetadataSnapshotIntervalBytes:  20 << 20,
		ControllerRequestTimeoutMs:     30_000,
		ListenAddress:                  "127.0.0.1:9092",
		AdvertisedHost:                 "127.0.0.1",
		AdvertisedPort:                 9092,
		DataDir:                        "./data",
		AutoCreateTopics:               true,
		NumPartitions:                  1,
		DefaultReplicationFactor:       1,
		DeleteTopicEnable:              true,
		LogRecoveryThreads:             2,
		CacheBytes:                     256 << 20,
		RequestMaxBytes:                100 << 20,
		MaxConnections:                 math.MaxInt32,
		SocketSendBufferBytes:          -1,
		SocketReceiveBufferBytes:       -1,
		ConnectionsMaxIdleMs:           600_000,
		RetentionCheckIntervalMs:       300_000,
		CleanerBackoffMs:               15_000,
		ProducerIDExpirationMs:         86_400_000,
		MetricsListener:                "127.0.0.1:9644",
		StaticBrokerConfigs: map[string]string{
			"advertised.listeners": "PLAINTEXT://127.0.0.1:9092",
		},
	}
	want.HighWatermarkCheckpointIntervalMs = 5000 // replica.high.watermark.checkpoint.interval.ms
	want.Groups = defaultGroupConfig
	want.Txns = defaultTxnConfig
	checkDefaultBrokerConfigs(t, cfg, &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodeConfig\n got %+v\nwant %+v", got, want)
	}
}

// checkDefaultBrokerConfigs checks that got's DefaultBrokerConfigs hold the
// effective value of every key of cfg that was not given and is set, none
// of them in StaticBrokerConfigs too, that BrokerConfigKeys list every
// key and BrokerConfigDocs describe every key, then clears all three (for a
// comparison of the rest).
func checkDefaultBrokerConfigs(t *testing.T, cfg *brokerConfig, got *actors.Config) {
	t.Helper()
	for _, s := range cfg.Settings {
		key := s.Key
		if !slices.Contains(got.BrokerConfigKeys, key) {
			t.Errorf("%s is not among the BrokerConfigKeys", key)
		}
		if got.BrokerConfigDocs[key] == "" {
			t.Errorf("%s has no description among the BrokerConfigDocs", key)
		}
		v, isDefault := got.DefaultBrokerConfigs[key]
		_, isStatic := got.StaticBrokerConfigs[key]
		switch {
		case isDefault && isStatic:
			t.Errorf("%s is both a default and a static broker config", key)
		case s.Source == "default" && s.Value != "" && v != s.Value:
			t.Errorf("default broker config %s = %q (found %v), want %q", key, v, isDefault, s.Value)
		case s.Source != "default" && isDefault:
			t.Errorf("%s, given (%s), is among the default broker configs", key, s.Source)
		}
	}
	got.DefaultBrokerConfigs, got.BrokerConfigKeys, got.BrokerConfigDocs = nil, nil, nil
}

// TestNodeConfigSetsEveryField fails when actors.Config gains a field that
// nodeConfig leaves at its zero value: map the field's server.properties key
// (or list the field here if it is not configuration).
func TestNodeConfigSetsEveryField(t *testing.T) {
	// Test and simulation seams (testHooks: settings only tests set).
	notConfiguration := map[string]bool{"FS": true, "Clock": true, "Entropy": true, "testHooks": true,
		"BootID": true} // the machine's boot id, read from /proc (actors.machineBootID)
	cfg, _, err := buildFromOverrides(t, "log.flush.group.commit=true", "log.cleaner.enable=false", "replica.truncate.on.fetch=false", "debug.listener=127.0.0.1:9645",
		"listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093", "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094",
		"broker.rack=r", "gossip.listener=127.0.0.1:7946", "gossip.seeds=127.0.0.1:7947", "metadata.log.dir=/m")
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	v := reflect.ValueOf(got)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if v.Field(i).IsZero() && !notConfiguration[name] {
			t.Errorf("nodeConfig leaves actors.Config.%s unset", name)
		}
	}
}

func TestNodeConfigAliasesAndDerivedListeners(t *testing.T) {
	cfg, _, err := buildFromOverrides(t,
		"broker.id=3",
		"log.dir=/tmp/g",
		"log.retention.hours=2",
		"log.roll.hours=1",
		"listeners=PLAINTEXT://:9093",
		"metrics.listener=",
	)
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	if got.NodeID != 3 || got.DataDir != "/tmp/g" || got.ListenAddress != ":9093" || got.MetricsListener != "" {
		t.Errorf("node.id %d, data dir %q, listen %q, metrics %q; want 3, /tmp/g, :9093, none",
			got.NodeID, got.DataDir, got.ListenAddress, got.MetricsListener)
	}
	if got.AdvertisedHost != "gregor-host" || got.AdvertisedPort != 9093 {
		t.Errorf("advertised %s:%d, want gregor-host:9093 (the hostname, for an empty listener host)", got.AdvertisedHost, got.AdvertisedPort)
	}
	// The aliases stay as written (DescribeConfigs lists them so, as
	// Kafka does); the keys they stand for are read from them.
	for key, want := range map[string]string{
		"log.retention.hours":  "2",
		"log.roll.hours":       "1",
		"log.retention.ms":     "",
		"log.roll.ms":          "",
		"advertised.listeners": "PLAINTEXT://gregor-host:9093",
	} {
		if v := got.StaticBrokerConfigs[key]; v != want {
			t.Errorf("StaticBrokerConfigs[%s] = %q, want %q", key, v, want)
		}
	}
	broker := cluster.BrokerConfigs{Static: got.StaticBrokerConfigs}
	for key, want := range map[string]string{"retention.ms": "7200000", "segment.ms": "3600000"} {
		if v, src := cluster.TopicConfigValue(nil, broker, key); v != want || src != cluster.ConfigSourceStaticBroker {
			t.Errorf("a topic's %s: %s from %v, want %s from server.properties", key, v, src, want)
		}
	}
}

// TestBrokerConfigInvalidValues checks that an invalid value of each key
// stops the configuration with an error naming the key, the value and the
// form expected.
func TestBrokerConfigInvalidValues(t *testing.T) {
	tests := []struct {
		key, value, expected string
	}{
		{"node.id", "one", "an integer of at least 0"},
		{"node.id", "-1", "an integer of at least 0"},
		{"node.id", "2147483648", "an integer of at least 0"},
		{"listeners", "127.0.0.1:9092", "NAME://host:port"},
		{"listeners", "PLAINTEXT://127.0.0.1:99999", "NAME://host:port"},
		{"listeners", "PLAINTEXT://a:1,PLAINTEXT://b:2", "each with its own name and port"},
		{"listeners", "SSL://127.0.0.1:9093", "protocol in listener.security.protocol.map is PLAINTEXT"},
		{"advertised.listeners", "broker:9092", "NAME://host:port"},
		{"advertised.listeners", "PLAINTEXT://0.0.0.0:9092", "a host clients can reach"},
		{"advertised.listeners", "OTHER://broker:9092", "listeners named in listeners"},
		{"log.dirs", "", "a comma-separated list of one or more distinct directories"},
		{"log.dirs", "/a,/a", "a comma-separated list of one or more distinct directories"},
		{"log.dirs", "/a,,/b", "a comma-separated list of one or more distinct directories"},
		{"num.partitions", "0", "an integer of at least 1"},
		{"num.partitions", "many", "an integer of at least 1"},
		{"auto.create.topics.enable", "yes", "true or false"},
		{"message.max.bytes", "-1", "a byte count of at least 0"},
		{"message.max.bytes", "1MB", "KiB/MiB/GiB/TiB suffix"},
		{"message.max.bytes", "2GiB", "a byte count of at least 0"},
		{"log.segment.bytes", "1000", "a byte count of at least 1048576"},
		{"log.retention.ms", "0", "-1 (unlimited) or an integer of at least 1"},
		{"log.retention.ms", "7d", "-1 (unlimited) or an integer of at least 1"},
		{"log.retention.bytes", "-2", "-1 (unlimited) or a byte count of at least 0"},
		{"log.flush.interval.messages", "0", "an integer of at least 1"},
		{"log.flush.interval.ms", "-1", "an integer of at least 0"},
		{"log.flush.interval.ms", "1.5", "an integer of at least 0"},
		{"socket.request.max.bytes", "0", "a byte count of at least 1"},
		{"metrics.listener", "localhost", "host:port (e.g. 127.0.0.1:9644), or empty to disable metrics"},
		{"metrics.listener", "127.0.0.1:9092", "a host:port that no listener uses"},
		{"debug.listener", "localhost", "host:port (e.g. 127.0.0.1:9645), or empty to disable profiling"},
		{"debug.listener", "127.0.0.1:9092", "a host:port that no listener uses"},
		{"debug.listener", "127.0.0.1:9644", "a host:port other than metrics.listener's"},
		{"log.retention.hours", "x", "an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, _, err := buildFromOverrides(t, tt.key+"="+tt.value)
			var valueErr *configValueError
			if !errors.As(err, &valueErr) {
				t.Fatalf("error %v, want a *configValueError", err)
			}
			if valueErr.Key != tt.key || valueErr.Value != tt.value || valueErr.Source != "--set" {
				t.Errorf("error names %s=%q from %s, want %s=%q from --set", valueErr.Key, valueErr.Value, valueErr.Source, tt.key, tt.value)
			}
			for _, want := range []string{tt.key, "want ", tt.expected} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestBrokerConfigReportsEveryInvalidValue(t *testing.T) {
	_, _, err := buildFromOverrides(t, "num.partitions=0", "log.retention.bytes=lots", "auto.create.topics.enable=1",
		"num.recovery.threads.per.data.dir=0")
	if err == nil {
		t.Fatal("no error for four invalid values")
	}
	for _, key := range []string{"num.partitions", "log.retention.bytes", "auto.create.topics.enable", "num.recovery.threads.per.data.dir"} {
		if !strings.Contains(err.Error(), "for "+key+" ") {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestNodeConfigRefusesWhatTheNodeCannotServe(t *testing.T) {
	for _, tt := range []struct {
		setting, want string
	}{
		{"listeners=PLAINTEXT://127.0.0.1:9092,OTHER://127.0.0.1:9093", "exactly one listener"},
		{"log.dirs=/a,/b", "exactly one log directory"},
	} {
		overrides := []string{tt.setting, "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"}
		cfg, _, err := buildFromOverrides(t, overrides...)
		if err != nil {
			t.Fatalf("buildBrokerConfig(%q): %v", overrides, err)
		}
		if _, err := nodeConfig(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("nodeConfig with %s: error %v, want one containing %q", tt.setting, err, tt.want)
		}
		// --check-config must find it too, not only a real start.
		mustFail(t, "", []string{"serve", "--check-config", "--set", tt.setting, "--set", overrides[1]}, tt.want)
	}
}

func TestBrokerConfigWarnsAboutUnknownKeys(t *testing.T) {
	_, logs, err := buildFromOverrides(t, "log.retention.msec=1", "num.network.threads=3", "num.partitions=2", "leader.imbalance.per.broker.percentage=10")
	if err != nil {
		t.Fatalf("an unknown key must not stop startup: %v", err)
	}
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warnings) != 1 || warnings[0].ContextMap()["key"] != "log.retention.msec" || warnings[0].ContextMap()["source"] != "--set" {
		t.Errorf("warnings %+v, want one naming log.retention.msec from --set", warnings)
	}
	if logs.FilterField(zap.String("key", "num.network.threads")).FilterLevelExact(zapcore.InfoLevel).Len() != 1 {
		t.Errorf("num.network.threads, a Kafka key gregor ignores, should be noted at info level: %+v", logs.All())
	}
	if logs.FilterField(zap.String("key", "leader.imbalance.per.broker.percentage")).FilterLevelExact(zapcore.InfoLevel).Len() != 1 {
		t.Errorf("leader.imbalance.per.broker.percentage, which Kafka's KRaft controller does not use either, should be noted at info level: %+v", logs.All())
	}
}

// A mistyped key is warned about with the known keys it is closest to: a
// broker started with --set listners=... otherwise listens on 9092 with
// nothing but "unknown configuration key" to say why.
func TestUnknownKeySuggestsTheKnownOne(t *testing.T) {
	_, logs, err := buildFromOverrides(t, "listners=PLAINTEXT://127.0.0.1:9093", "log.retention.hour=1", "no.such.key=1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"listners": []any{"listeners"}, "log.retention.hour": []any{"log.retention.hours"}, "no.such.key": nil}
	warnings := logs.FilterMessage("unknown configuration key").All()
	if len(warnings) != len(want) {
		t.Fatalf("warnings %+v", warnings)
	}
	for _, w := range warnings {
		m := w.ContextMap()
		if got, ok := m["did_you_mean"]; fmt.Sprint(got) != fmt.Sprint(want[m["key"].(string)]) || ok != (want[m["key"].(string)] != nil) {
			t.Errorf("%s: did_you_mean %v, want %v", m["key"], got, want[m["key"].(string)])
		}
	}
}

// TestServeWarnsAboutUnknownKeys runs serve itself: the warning reaches
// stderr and startup goes on.
func TestServeWarnsAboutUnknownKeys(t *testing.T) {
	inv := mustRun(t, "", "serve", "--check-config", "--set", "no.such.key=1", "--set", "log.format=json")
	if !strings.Contains(inv.stderr, `"unknown configuration key"`) || !strings.Contains(inv.stderr, `"key":"no.such.key"`) {
		t.Errorf("stderr does not warn about no.such.key:\n%s", inv.stderr)
	}
	if strings.Contains(inv.stdout, "no.such.key") {
		t.Errorf("the effective configuration lists the unknown key:\n%s", inv.stdout)
	}
}

func TestServeInvalidValueStopsStartup(t *testing.T) {
	// No --check-config: an invalid value must stop serve before it binds.
	inv := mustFail(t, "", []string{"serve", "--set", "log.segment.bytes=1KiB"},
		"configuration: invalid value \"1KiB\" for log.segment.bytes (from --set): want a byte count of at least 1048576")
	if inv.stdout != "" {
		t.Errorf("serve printed a configuration for an invalid one:\n%s", inv.stdout)
	}
	mustFail(t, "", []string{"serve", "--set", "novalue"}, `--set "novalue": want key=value`)
	mustFail(t, "", []string{"serve", "--config", filepath.Join(t.TempDir(), "missing.properties")}, "open config")
}

// effectiveSettings reads serve's effective configuration output: each key's
// value, and the source its "# source:" comment names ("default" if none).
func effectiveSettings(t *testing.T, out string) (map[string]string, map[string]string) {
	t.Helper()
	props, err := parseProperties(out)
	if err != nil {
		t.Fatalf("effective configuration does not parse: %v\n%s", err, out)
	}
	values := make(map[string]string, len(props))
	for _, p := range props {
		values[p.Key] = p.Value
	}
	sources := make(map[string]string)
	source := "default"
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "# source: "); ok {
			source = s
			continue
		}
		if key, _, ok := strings.Cut(line, "="); ok {
			sources[key] = source
			source = "default"
		}
	}
	return values, sources
}

func TestServeConfigFileAndOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.properties")
	file := strings.Join([]string{
		"# a Kafka-style file",
		"node.id=4",
		"num.partitions=2",
		"num.partitions=3",        // a later line wins
		"log.retention.ms=1000  ", // trailing space is part of a properties value
		"log.retention.bytes=10MiB",
		"log.segment.bytes=1GiB",
		"message.max.bytes = 2000000",
		"log.dirs=" + filepath.Join(dir, "data"),
		"listeners=PLAINTEXT://127.0.0.1:0",
		"metrics.listener=127.0.0.1:0",
		"auto.create.topics.enable=true",
		"log.retention.msec=5", // a typo: warned about, not fatal
		"",
	}, "\n")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	inv := mustRun(t, "", "serve", "--check-config", "--config", path,
		"--set", "num.partitions=5", "--set", "auto.create.topics.enable=false", "--set", "num.partitions=6",
		"--set", "log.flush.interval.ms=250", "--set", "log.format=json")
	values, sources := effectiveSettings(t, inv.stdout)
	if !strings.Contains(inv.stderr, `"msg":"unknown configuration key","key":"log.retention.msec","source":"`+path+`:13"`) {
		t.Errorf("stderr does not warn about log.retention.msec at line 13:\n%s", inv.stderr)
	}
	for _, tt := range []struct{ key, value, source string }{
		{"node.id", "4", path + ":2"},
		{"num.partitions", "6", "--set"},
		{"log.retention.ms", "1000", path + ":5"},
		{"log.retention.bytes", "10485760", path + ":6"},
		{"log.segment.bytes", "1073741824", path + ":7"},
		{"message.max.bytes", "2000000", path + ":8"},
		{"auto.create.topics.enable", "false", "--set"},
		{"log.flush.interval.ms", "250", "--set"},
		{"log.flush.interval.messages", "9223372036854775807", "default"},
		{"socket.request.max.bytes", "104857600", "default"},
		{"advertised.listeners", "PLAINTEXT://127.0.0.1:0", "derived from listeners"},
	} {
		if values[tt.key] != tt.value || sources[tt.key] != tt.source {
			t.Errorf("%s = %q from %q, want %q from %q", tt.key, values[tt.key], sources[tt.key], tt.value, tt.source)
		}
	}
	if len(values) != len(brokerConfigKeys) {
		t.Errorf("effective configuration has %d keys, want all %d known keys", len(values), len(brokerConfigKeys))
	}
}

// TestConfigAliasPrecedence checks Kafka's order among a key and its
// aliases within one source, and that --set wins over the file whichever
// of the names each uses.
func TestConfigAliasPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		file      []property
		overrides []string
		want      string // effective log.retention.ms
		source    string
	}{
		{"ms beats hours in the file", []property{{"log.retention.hours", "1", 1}, {"log.retention.ms", "5000", 2}}, nil, "5000", "f:2"},
		{"minutes beats hours in the file", []property{{"log.retention.hours", "1", 1}, {"log.retention.minutes", "2", 2}}, nil, "120000", "f:2 as log.retention.minutes"},
		{"ms beats hours in --set", nil, []string{"log.retention.ms=5000", "log.retention.hours=1"}, "5000", "--set"},
		{"--set hours beats file ms", []property{{"log.retention.ms", "5000", 1}}, []string{"log.retention.hours=1"}, "3600000", "--set as log.retention.hours"},
		{"--set hours beats file minutes", []property{{"log.retention.minutes", "2", 1}}, []string{"log.retention.hours=1"}, "3600000", "--set as log.retention.hours"},
		{"--set ms beats file hours", []property{{"log.retention.hours", "1", 1}}, []string{"log.retention.ms=5000"}, "5000", "--set"},
		{"file hours does not beat --set ms", []property{{"log.retention.hours", "1", 1}}, []string{"log.retention.ms=7000"}, "7000", "--set"},
		{"unlimited hours", []property{{"log.retention.hours", "-1", 1}}, nil, "-1", "f:1 as log.retention.hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings, err := collectSettings("f", tt.file, tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := buildBrokerConfig(settings, configOptions{hostname: testHostname}, zap.NewNop())
			if err != nil {
				t.Fatalf("buildBrokerConfig: %v", err)
			}
			if s := cfg.setting("log.retention.ms"); s.Value != tt.want || s.Source != tt.source {
				t.Errorf("log.retention.ms = %q from %q, want %q from %q", s.Value, s.Source, tt.want, tt.source)
			}
		})
	}
}

// TestCheckConfigPrintsKafkasKeys: --check-config names the segment age
// log.roll.ms, Kafka's key, and still reads gregor's old name log.segment.ms
// (and Kafka's log.roll.hours) as it.
func TestCheckConfigPrintsKafkasKeys(t *testing.T) {
	for _, tt := range []struct{ set, value, source string }{
		{"", "604800000", "default"},
		{"log.segment.ms=60000", "60000", "--set as log.segment.ms"},
		{"log.roll.hours=2", "7200000", "--set as log.roll.hours"},
		{"log.roll.ms=5000", "5000", "--set"},
	} {
		args := []string{"serve", "--check-config"}
		if tt.set != "" {
			args = append(args, "--set", tt.set)
		}
		inv := mustRun(t, "", args...)
		values, sources := effectiveSettings(t, inv.stdout)
		if values["log.roll.ms"] != tt.value || sources["log.roll.ms"] != tt.source {
			t.Errorf("with %q: log.roll.ms = %q from %q, want %q from %q", tt.set, values["log.roll.ms"], sources["log.roll.ms"], tt.value, tt.source)
		}
		if v, ok := values["log.segment.ms"]; ok {
			t.Errorf("with %q: --check-config prints log.segment.ms=%s, a key Kafka does not know", tt.set, v)
		}
	}
	// Every key printed is Kafka's where Kafka has one: the only keys
	// printed that Kafka's brokers lack are gregor's own settings.
	for _, k := range brokerConfigKeys {
		if strings.HasSuffix(k.Name, ".segment.ms") {
			t.Errorf("key %s: Kafka's broker key for a segment's age is log.roll.ms", k.Name)
		}
	}
}

// TestCheckConfigRefusesContradictingClusterSettings: --check-config
// refuses the clustering settings the node would refuse at its start.
func TestCheckConfigRefusesContradictingClusterSettings(t *testing.T) {
	for _, tt := range []struct {
		settings []string
		want     string
	}{
		{[]string{"process.roles=broker"}, "controller.quorum.voters must name the controllers"},
		{[]string{"node.id=5", "controller.quorum.voters=1@127.0.0.1:9093"}, "node.id 5 is not in controller.quorum.voters"},
		// Kafka 4's dynamic quorum: three nodes each given the three
		// controllers would each start a cluster of one.
		{[]string{"process.roles=broker,controller", "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
			"controller.quorum.bootstrap.servers=127.0.0.1:9093,127.0.0.1:9193,127.0.0.1:9293"}, "set controller.quorum.voters="},
		{[]string{"process.roles=broker", "controller.quorum.bootstrap.servers=127.0.0.1:9093"}, "gregor's metadata quorum is static"},
	} {
		args := []string{"serve", "--check-config"}
		for _, s := range tt.settings {
			args = append(args, "--set", s)
		}
		mustFail(t, "", args, tt.want)
	}
}

// TestCheckConfigTakesTheStockSingleNodeBootstrap: Kafka 4's stock
// server.properties names only the node's own CONTROLLER listener in
// controller.quorum.bootstrap.servers: a cluster of one, as gregor starts
// without voters, so it is taken.
func TestCheckConfigTakesTheStockSingleNodeBootstrap(t *testing.T) {
	inv := runGregor(t, "", "serve", "--check-config", "--set", "process.roles=broker,controller",
		"--set", "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093", "--set", "controller.listener.names=CONTROLLER",
		"--set", "controller.quorum.bootstrap.servers=localhost:9093")
	if inv.err != nil {
		t.Fatalf("serve --check-config with the stock bootstrap: %v\n%s", inv.err, inv.stderr)
	}
}

// TestEveryTopicDefaultIsAServerKey: each broker-wide topic default Kafka's
// server.properties takes (log.preallocate, log.cleaner.min.cleanable.ratio,
// ...) is a known key whose value topics that do not set the config fall
// back to, not a key warned about and ignored.
func TestEveryTopicDefaultIsAServerKey(t *testing.T) {
	var overrides []string
	want := map[string]string{}
	for _, spec := range cluster.TopicConfigSpecs() {
		v := "2000000" // within every numeric key's range but the codec levels'
		if strings.HasSuffix(spec.Name, ".level") {
			v = "5" // compression.<codec>.level
		}
		switch spec.Type {
		case cluster.ConfigBoolean:
			v = "true"
		case cluster.ConfigDouble:
			v = "0.25"
		case cluster.ConfigList, cluster.ConfigString:
			continue // cleanup.policy and the choices have tests of their own
		}
		overrides = append(overrides, spec.BrokerKey+"="+v)
		want[spec.Name] = v
	}
	cfg, logs, err := buildFromOverrides(t, overrides...)
	if err != nil {
		t.Fatalf("buildBrokerConfig: %v", err)
	}
	for _, e := range logs.FilterMessage("unknown configuration key").All() {
		t.Errorf("warned: unknown configuration key %v", e.ContextMap()["key"])
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatalf("nodeConfig: %v", err)
	}
	broker := cluster.BrokerConfigs{Static: got.StaticBrokerConfigs}
	for name, v := range want {
		if got, src := cluster.TopicConfigValue(nil, broker, name); got != v || src != cluster.ConfigSourceStaticBroker {
			t.Errorf("a topic's %s: %s from %v, want %s from server.properties", name, got, src, v)
		}
	}
}

package cluster

import (
	"strconv"

	"gregor/logstore"
)

// ConfigSource is where an effective config value comes from, in Kafka's
// order of precedence (DescribeConfigs ConfigSource).
type ConfigSource int8

// The sources a topic config can take its value from.
const (
	ConfigSourceUnknown ConfigSource = iota
	ConfigSourceTopic
	ConfigSourceDynamicBrokerDefault
	ConfigSourceStaticBroker
	ConfigSourceDefault
	// ConfigSourceDynamicBroker is a value set for one broker at run time
	// (the broker resource named by its id); it comes before the
	// cluster-wide default. Last, so the older values keep their numbers.
	ConfigSourceDynamicBroker
)

// BrokerConfigs are the broker-wide settings a topic config can fall back to:
// the node's own dynamic configs (AlterConfigs on the broker resource named
// by its id), over the dynamic cluster-wide defaults of the metadata image
// (AlterConfigs on the default broker resource), over the node's
// server.properties, all by server.properties key, as in Kafka. Defaults are
// the node's own defaults of the keys it was not given, which only
// DescribeConfigs of the broker shows. Docs describe the node's
// server.properties keys, for DescribeConfigs asked for documentation.
type BrokerConfigs struct {
	Node     map[string]string
	Dynamic  map[string]string
	Static   map[string]string
	Defaults map[string]string
	Docs     map[string]string
}

// TopicConfigValue is the effective value of a topic config and where it
// comes from: the topic's own value, else the node's own dynamic value, else
// the dynamic cluster-wide broker default, else server.properties, else
// Kafka's default. topic may be nil (the
// defaults a new topic would get).
func TopicConfigValue(topic *TopicImage, broker BrokerConfigs, key string) (string, ConfigSource) {
	if topic != nil {
		if v, ok := topic.Configs[key]; ok {
			return v, ConfigSourceTopic
		}
	}
	spec, ok := LookupTopicConfig(key)
	if !ok {
		return "", ConfigSourceUnknown
	}
	if spec.BrokerKey != "" {
		if v, ok := broker.Node[spec.BrokerKey]; ok {
			return v, ConfigSourceDynamicBroker
		}
		if v, ok := broker.Dynamic[spec.BrokerKey]; ok {
			return v, ConfigSourceDynamicBrokerDefault
		}
		if v, ok := staticValue(broker, spec.BrokerKey); ok {
			return v, ConfigSourceStaticBroker
		}
	}
	return spec.Default, ConfigSourceDefault
}

// TopicSettings are a topic's effective configs, parsed for the log and the
// replica core.
type TopicSettings struct {
	Log     logstore.Config
	Replica ReplicaConfig
}

// ResolveTopicSettings parses a topic's effective configs. Values were
// validated when set, so a value that does not parse falls back to Kafka's
// default. durableHighWatermark is the node's log.flush.group.commit.
func ResolveTopicSettings(topic *TopicImage, broker BrokerConfigs, durableHighWatermark bool) TopicSettings {
	value := func(key string) string {
		v, _ := TopicConfigValue(topic, broker, key)
		return v
	}
	intOf := func(key string) int64 {
		if x, err := strconv.ParseInt(value(key), 10, 64); err == nil {
			return x
		}
		def, _ := TopicConfigDefault(key)
		x, _ := strconv.ParseInt(def, 10, 64)
		return x
	}
	lc := logstore.DefaultConfig()
	lc.SegmentBytes = intOf("segment.bytes")
	lc.SegmentMs = intOf("segment.ms")
	lc.IndexIntervalBytes = intOf("index.interval.bytes")
	lc.FlushMessages = intOf("flush.messages")
	lc.FlushMs = intOf("flush.ms")
	lc.RetentionMs = intOf("retention.ms")
	lc.RetentionBytes = intOf("retention.bytes")
	lc.DeleteRetentionMs = intOf("delete.retention.ms")
	lc.MinCompactionLagMs = intOf("min.compaction.lag.ms")
	lc.MaxCompactionLagMs = intOf("max.compaction.lag.ms")
	if x, err := strconv.ParseFloat(value("min.cleanable.dirty.ratio"), 64); err == nil {
		lc.MinCleanableDirtyRatio = x
	}
	lc.Preallocate = value("preallocate") == "true"
	if v := value("cleanup.policy"); v != "" {
		_ = lc.SetCleanupPolicy(v) // validated when set; on error the default stays
	}
	rc := ReplicaConfig{
		MaxMessageBytes:      int32(intOf("max.message.bytes")),
		TimestampBeforeMaxMs: intOf("message.timestamp.before.max.ms"),
		TimestampAfterMaxMs:  intOf("message.timestamp.after.max.ms"),
		MinInsyncReplicas:    int(intOf("min.insync.replicas")),
		DurableHighWatermark: durableHighWatermark,
		Compacted:            lc.CleanupPolicyCompact,
	}
	if value("message.timestamp.type") == "LogAppendTime" {
		rc.TimestampType = LogAppendTime
	}
	if codec, ok := storedCodecs[value("compression.type")]; ok {
		rc.Recompress, rc.Codec = true, codec
		if key, ok := codecLevelKeys[codec]; ok {
			rc.CodecLevel = int32(intOf(key))
		}
	}
	return TopicSettings{Log: lc, Replica: rc}
}

// storedCodecs are the compression.type values that name the codec a
// topic stores its batches in (the record batch's codec bits); producer
// keeps each producer's.
var storedCodecs = map[string]int8{"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

// codecLevelKeys are the topic configs (KIP-390) of the level a codec
// stores batches with.
var codecLevelKeys = map[int8]string{1: "compression.gzip.level", 3: "compression.lz4.level", 4: "compression.zstd.level"}

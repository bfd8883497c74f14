package actors

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// topicSettings are a topic's effective configs, parsed for the log and the
// replica core.
type topicSettings struct {
	log     logstore.Config
	replica cluster.ReplicaConfig
}

// topicConfigValue is the effective value of a topic config and where it
// comes from: the topic's own value, else the dynamic cluster-wide broker
// default, else server.properties, else Kafka's default.
func (n *Node) topicConfigValue(topic *cluster.TopicImage, key string) (string, kmsg.ConfigSource) {
	if topic != nil {
		if v, ok := topic.Configs[key]; ok {
			return v, kmsg.ConfigSourceDynamicTopicConfig
		}
	}
	spec, ok := cluster.LookupTopicConfig(key)
	if !ok {
		return "", kmsg.ConfigSourceUnknown
	}
	if spec.BrokerKey != "" {
		if v, ok := n.routes.load().image.BrokerConfigs()[spec.BrokerKey]; ok {
			return v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		}
		if v, ok := n.cfg.StaticBrokerConfigs[spec.BrokerKey]; ok {
			return v, kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	return spec.Default, kmsg.ConfigSourceDefaultConfig
}

// topicSettings resolves a topic's effective configs. Values were validated
// when set, so a parse failure falls back to Kafka's default.
func (n *Node) topicSettings(name string) topicSettings {
	topic, _ := n.routes.load().image.Topic(name)
	intOf := func(key string) int64 {
		v, _ := n.topicConfigValue(topic, key)
		if x, err := strconv.ParseInt(v, 10, 64); err == nil {
			return x
		}
		def, _ := cluster.TopicConfigDefault(key)
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
	if v, _ := n.topicConfigValue(topic, "min.cleanable.dirty.ratio"); v != "" {
		if x, err := strconv.ParseFloat(v, 64); err == nil {
			lc.MinCleanableDirtyRatio = x
		}
	}
	if v, _ := n.topicConfigValue(topic, "cleanup.policy"); v != "" {
		_ = lc.SetCleanupPolicy(v) // validated when set; on error the default stays
	}
	tsType, _ := n.topicConfigValue(topic, "message.timestamp.type")
	rc := cluster.ReplicaConfig{
		MaxMessageBytes:      int32(intOf("max.message.bytes")),
		TimestampBeforeMaxMs: intOf("message.timestamp.before.max.ms"),
		TimestampAfterMaxMs:  intOf("message.timestamp.after.max.ms"),
		MinInsyncReplicas:    int(intOf("min.insync.replicas")),
		DurableHighWatermark: n.cfg.GroupCommit,
		Compacted:            lc.CleanupPolicyCompact,
	}
	if tsType == "LogAppendTime" {
		rc.TimestampType = cluster.LogAppendTime
	}
	return topicSettings{log: lc, replica: rc}
}

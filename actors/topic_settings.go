package actors

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// brokerConfigs are the broker-wide settings topic configs fall back to: the
// image's dynamic defaults over this node's server.properties.
func (n *Node) brokerConfigs(image *cluster.MetadataImage) cluster.BrokerConfigs {
	return cluster.BrokerConfigs{Dynamic: image.BrokerConfigs(), Static: n.cfg.StaticBrokerConfigs}
}

// topicConfigValue is the effective value of a topic config and its source
// as DescribeConfigs reports it.
func (n *Node) topicConfigValue(topic *cluster.TopicImage, key string) (string, kmsg.ConfigSource) {
	v, src := cluster.TopicConfigValue(topic, n.brokerConfigs(n.routes.load().image), key)
	return v, kafkaConfigSource(src)
}

// kafkaConfigSource is DescribeConfigs' name for a config source.
func kafkaConfigSource(src cluster.ConfigSource) kmsg.ConfigSource {
	switch src {
	case cluster.ConfigSourceTopic:
		return kmsg.ConfigSourceDynamicTopicConfig
	case cluster.ConfigSourceDynamicBrokerDefault:
		return kmsg.ConfigSourceDynamicDefaultBrokerConfig
	case cluster.ConfigSourceStaticBroker:
		return kmsg.ConfigSourceStaticBrokerConfig
	case cluster.ConfigSourceDefault:
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceUnknown
}

// topicSettings resolves a topic's effective configs from an image.
func (n *Node) topicSettings(image *cluster.MetadataImage, name string) cluster.TopicSettings {
	topic, _ := image.Topic(name)
	return cluster.ResolveTopicSettings(topic, n.brokerConfigs(image), n.cfg.GroupCommit)
}

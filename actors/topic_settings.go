package actors

import (
	"fmt"

	"gregor/cluster"
)

// brokerConfigs are the broker-wide settings topic configs fall back to: the
// image's dynamic configs of this broker, over its dynamic cluster-wide
// defaults, over this node's server.properties.
func (n *Node) brokerConfigs(image *cluster.MetadataImage) cluster.BrokerConfigs {
	return cluster.BrokerConfigs{Node: image.NodeConfigs(n.cfg.NodeID), Dynamic: image.BrokerConfigs(),
		Static: n.cfg.StaticBrokerConfigs, Defaults: n.cfg.DefaultBrokerConfigs, Docs: n.cfg.BrokerConfigDocs}
}

// topicSettings resolves a topic's effective configs from an image.
func (n *Node) topicSettings(image *cluster.MetadataImage, name string) cluster.TopicSettings {
	topic, _ := image.Topic(name)
	return cluster.ResolveTopicSettings(topic, n.brokerConfigs(image), n.cfg.GroupCommit)
}

// validateStaticBrokerConfigs refuses a server.properties value that sets a
// topic default (log.retention.ms for retention.ms, ...) the topic config
// would refuse: a topic would otherwise fall back to Kafka's default without
// a word.
func validateStaticBrokerConfigs(configs map[string]string) error {
	for _, spec := range cluster.TopicConfigSpecs() {
		if spec.BrokerKey == "" {
			continue
		}
		if v, ok := configs[spec.BrokerKey]; ok {
			if err := cluster.ValidateTopicConfig(spec.Name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", spec.BrokerKey, v, err)
			}
		}
	}
	return nil
}

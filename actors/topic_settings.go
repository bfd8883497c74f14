package actors

import (
	"gregor/cluster"
)

// brokerConfigs are the broker-wide settings topic configs fall back to: the
// image's dynamic defaults over this node's server.properties.
func (n *Node) brokerConfigs(image *cluster.MetadataImage) cluster.BrokerConfigs {
	return cluster.BrokerConfigs{Dynamic: image.BrokerConfigs(), Static: n.cfg.StaticBrokerConfigs}
}

// topicSettings resolves a topic's effective configs from an image.
func (n *Node) topicSettings(image *cluster.MetadataImage, name string) cluster.TopicSettings {
	topic, _ := image.Topic(name)
	return cluster.ResolveTopicSettings(topic, n.brokerConfigs(image), n.cfg.GroupCommit)
}

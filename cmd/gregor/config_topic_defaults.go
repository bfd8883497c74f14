package main

import (
	"slices"
	"strings"

	"gregor/cluster"
)

// withTopicDefaultKeys adds to keys a key for every broker-wide topic
// default (Kafka's log.preallocate for preallocate, ...) that none of keys
// or configAliases reads already. Such a key fills no brokerConfig field:
// the node is handed it among the static broker configs, where topics that
// do not set the config fall back to it (cluster.BrokerConfigs.Static), so
// a server.properties line of it works as on Kafka's brokers instead of
// being warned about and ignored. Its value is checked as its topic
// config's is, and its default is that config's.
func withTopicDefaultKeys(keys []configKey) []configKey {
	for _, spec := range cluster.TopicConfigSpecs() {
		known := func(k configKey) bool { return k.Name == spec.BrokerKey }
		alias := func(a configAlias) bool { return a.Key == spec.BrokerKey }
		if spec.BrokerKey == "" || slices.ContainsFunc(keys, known) || slices.ContainsFunc(configAliases, alias) {
			continue
		}
		keys = append(keys, topicDefaultKey(spec))
	}
	return keys
}

// topicDefaultKey is the broker key of spec, the broker-wide default of a
// topic config.
func topicDefaultKey(spec cluster.TopicConfigSpec) configKey {
	return configKey{Name: spec.BrokerKey, Default: spec.Default, Doc: "default of the topic config " + spec.Name + " for topics that do not set it",
		apply: func(_ *brokerConfig, value string) (string, string, bool) {
			v := strings.TrimSpace(value)
			expected := "what the topic config " + spec.Name + " takes"
			if err := cluster.ValidateTopicConfig(spec.Name, v); err != nil {
				why := strings.TrimPrefix(err.Error(), "invalid value for "+spec.Name+": ")
				return v, expected + " (" + why + ")", false
			}
			return v, expected, true
		}}
}

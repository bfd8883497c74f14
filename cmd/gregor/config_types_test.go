package main

import (
	"testing"

	"gregor/cluster"
)

// TestBrokerConfigKeysHaveTypes: every key a broker reads, each alias and
// broker.id have a type for DescribeConfigs (cluster.BrokerConfigType), or
// are broker-wide topic defaults, which take their topic config's type: a
// key added without one would be listed as a STRING.
func TestBrokerConfigKeysHaveTypes(t *testing.T) {
	topicDefaults := map[string]bool{}
	for _, spec := range cluster.TopicConfigSpecs() {
		topicDefaults[spec.BrokerKey] = true
	}
	keys := []string{"broker.id"}
	for _, k := range brokerConfigKeys {
		keys = append(keys, k.Name)
	}
	for _, a := range configAliases {
		if !a.OldName { // gregor's old names are not listed
			keys = append(keys, a.Key)
		}
	}
	for _, k := range keys {
		if _, listed := cluster.BrokerConfigType(k); !topicDefaults[k] && !listed {
			t.Errorf("%s has no type in cluster's brokerConfigTypes", k)
		}
	}
}

package cluster

import (
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigEntry is one config as DescribeConfigs and CreateTopics show it.
type ConfigEntry struct {
	Name      string
	Value     string
	Source    kmsg.ConfigSource
	Type      ConfigType
	ReadOnly  bool
	Sensitive bool
	Doc       string
}

// KafkaConfigSource is DescribeConfigs' name for a config source.
func KafkaConfigSource(src ConfigSource) kmsg.ConfigSource {
	switch src {
	case ConfigSourceTopic:
		return kmsg.ConfigSourceDynamicTopicConfig
	case ConfigSourceDynamicBrokerDefault:
		return kmsg.ConfigSourceDynamicDefaultBrokerConfig
	case ConfigSourceStaticBroker:
		return kmsg.ConfigSourceStaticBrokerConfig
	case ConfigSourceDefault:
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceUnknown
}

// TopicConfigEntries lists a topic's effective configs, sorted by name.
func TopicConfigEntries(t *TopicImage, broker BrokerConfigs) []ConfigEntry {
	var out []ConfigEntry
	for _, spec := range TopicConfigSpecs() {
		v, src := TopicConfigValue(t, broker, spec.Name)
		out = append(out, ConfigEntry{Name: spec.Name, Value: v, Source: KafkaConfigSource(src), Type: spec.Type, Doc: spec.Doc})
	}
	return out
}

// BrokerConfigEntries lists a broker's configs, sorted by name:
// server.properties with the dynamic cluster-wide values over them. Only the
// broker-wide topic defaults can change at run time; the rest are read-only.
// Passwords are sensitive and shown without their value.
func BrokerConfigEntries(broker BrokerConfigs) []ConfigEntry {
	dynamicKeys := map[string]TopicConfigSpec{}
	for _, spec := range topicConfigSpecs {
		if spec.BrokerKey != "" {
			dynamicKeys[spec.BrokerKey] = spec
		}
	}
	values := map[string]ConfigEntry{}
	for k, v := range broker.Static {
		_, dynamic := dynamicKeys[k]
		values[k] = ConfigEntry{Name: k, Value: v, Source: kmsg.ConfigSourceStaticBrokerConfig, Type: ConfigString, ReadOnly: !dynamic}
	}
	for k, spec := range dynamicKeys {
		e, ok := values[k]
		if !ok {
			e = ConfigEntry{Name: k, Value: spec.Default, Source: kmsg.ConfigSourceDefaultConfig}
		}
		e.Type = spec.Type
		values[k] = e
	}
	for k, v := range broker.Dynamic {
		e := values[k]
		e.Name, e.Value, e.Source = k, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		values[k] = e
	}
	for k, v := range broker.Defaults {
		if _, ok := values[k]; !ok {
			values[k] = ConfigEntry{Name: k, Value: v, Source: kmsg.ConfigSourceDefaultConfig, Type: ConfigString, ReadOnly: true}
		}
	}
	out := make([]ConfigEntry, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		e := values[k]
		e.Sensitive = strings.Contains(k, "password")
		if e.Sensitive {
			e.Value = ""
		}
		out = append(out, e)
	}
	return out
}

// createTopicsConfigs is the configs part of a CreateTopics answer.
func createTopicsConfigs(entries []ConfigEntry) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, kmsg.StringPtr(e.Value), e.ReadOnly, int8(e.Source), e.Sensitive
		out = append(out, c)
	}
	return out
}

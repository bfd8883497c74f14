package cluster

import (
	"maps"
	"math"
	"slices"
	"strconv"
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
	// Synonyms are the values the config has at each level that sets it,
	// the one in force first (DescribeConfigs' include_synonyms): a
	// topic's own value, the broker-wide dynamic default, server.properties
	// and Kafka's default, under the key each level names it by.
	Synonyms []ConfigSynonym
}

// ConfigSynonym is one level's value of a config (ConfigEntry.Synonyms).
type ConfigSynonym struct {
	Name   string
	Value  string
	Source kmsg.ConfigSource
}

// KafkaConfigSource is DescribeConfigs' name for a config source.
func KafkaConfigSource(src ConfigSource) kmsg.ConfigSource {
	switch src {
	case ConfigSourceTopic:
		return kmsg.ConfigSourceDynamicTopicConfig
	case ConfigSourceDynamicBroker:
		return kmsg.ConfigSourceDynamicBrokerConfig
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
		out = append(out, ConfigEntry{Name: spec.Name, Value: v, Source: KafkaConfigSource(src), Type: spec.Type, Doc: spec.Doc,
			Synonyms: topicConfigSynonyms(t, broker, spec)})
	}
	return out
}

// topicConfigSynonyms lists a topic config's value at each level that sets
// it, in TopicConfigValue's order: the topic's own under the topic key, the
// broker's under the broker key (Kafka's log.retention.ms for retention.ms)
// and, in server.properties, under Kafka's other names of it as written
// (log.retention.minutes, log.retention.hours), and Kafka's default under
// the name Kafka gives it a default by (log.retention.hours=168).
func topicConfigSynonyms(t *TopicImage, broker BrokerConfigs, spec TopicConfigSpec) []ConfigSynonym {
	var out []ConfigSynonym
	if t != nil {
		if v, ok := t.Configs[spec.Name]; ok {
			out = append(out, ConfigSynonym{Name: spec.Name, Value: v, Source: kmsg.ConfigSourceDynamicTopicConfig})
		}
	}
	if spec.BrokerKey == "" {
		return append(out, ConfigSynonym{Name: spec.Name, Value: spec.Default, Source: kmsg.ConfigSourceDefaultConfig})
	}
	out = append(out, brokerLevels(broker, spec.BrokerKey)...)
	return append(out, defaultSynonym(spec.BrokerKey, spec.Default))
}

// defaultSynonym is a broker key's default as Kafka lists it: under the
// alias Kafka defines the default by when the key has none of its own
// (log.retention.ms: log.retention.hours=168), else under the key.
func defaultSynonym(key, def string) ConfigSynonym {
	if a, ok := kafkaDefaultAliases[key]; ok {
		return ConfigSynonym{Name: a.name, Value: a.value, Source: kmsg.ConfigSourceDefaultConfig}
	}
	return ConfigSynonym{Name: key, Value: def, Source: kmsg.ConfigSourceDefaultConfig}
}

// kafkaDefaultAliases are the broker keys without a default in Kafka whose
// alias has one: log.retention.ms and log.roll.ms default to 168 hours.
var kafkaDefaultAliases = map[string]struct{ name, value string }{
	"log.retention.ms": {"log.retention.hours", "168"},
	"log.roll.ms":      {"log.roll.hours", "168"},
}

// brokerLevels lists a broker key's value for this broker alone, its
// dynamic cluster-wide value and its server.properties value, where set, in
// that order; at the server.properties level, after the key, the aliases
// of it given there, as written (Kafka's order: log.retention.ms, .minutes,
// .hours).
func brokerLevels(broker BrokerConfigs, key string) []ConfigSynonym {
	var out []ConfigSynonym
	if v, ok := broker.Node[key]; ok {
		out = append(out, ConfigSynonym{Name: key, Value: v, Source: kmsg.ConfigSourceDynamicBrokerConfig})
	}
	if v, ok := broker.Dynamic[key]; ok {
		out = append(out, ConfigSynonym{Name: key, Value: v, Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig})
	}
	if v, ok := broker.Static[key]; ok {
		out = append(out, ConfigSynonym{Name: key, Value: v, Source: kmsg.ConfigSourceStaticBrokerConfig})
	}
	for _, a := range brokerKeyAliases[key] {
		if v, ok := broker.Static[a.name]; ok {
			out = append(out, ConfigSynonym{Name: a.name, Value: v, Source: kmsg.ConfigSourceStaticBrokerConfig})
		}
	}
	return out
}

// staticValue is a broker key's server.properties value: the key's own, else
// that of the first of its aliases given (log.retention.minutes before
// log.retention.hours), in the key's unit, as Kafka reads them; a negative
// alias (no limit) is -1.
func staticValue(broker BrokerConfigs, key string) (string, bool) {
	if v, ok := broker.Static[key]; ok {
		return v, true
	}
	for _, a := range brokerKeyAliases[key] {
		v, ok := broker.Static[a.name]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch {
		case err != nil:
			continue // validated when the node started; never here
		case n < 0:
			return "-1", true
		case n > math.MaxInt64/a.multiplier:
			return strconv.FormatInt(math.MaxInt64, 10), true
		}
		return strconv.FormatInt(n*a.multiplier, 10), true
	}
	return "", false
}

// BrokerConfigEntries lists a broker's configs, sorted by name:
// server.properties with the dynamic cluster-wide values over them and the
// broker's own dynamic values over those. Only the
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
		typ, _ := BrokerConfigType(k)
		values[k] = ConfigEntry{Name: k, Value: v, Source: kmsg.ConfigSourceStaticBrokerConfig, Type: typ, ReadOnly: !dynamic}
	}
	for k, spec := range dynamicKeys {
		e, ok := values[k]
		if !ok {
			e = ConfigEntry{Name: k, Value: spec.Default, Source: kmsg.ConfigSourceDefaultConfig}
			if v, ok := staticValue(broker, k); ok {
				e.Value, e.Source = v, kmsg.ConfigSourceStaticBrokerConfig
			}
		}
		e.Type = spec.Type
		values[k] = e
	}
	for k, v := range broker.Dynamic {
		e := values[k]
		e.Name, e.Value, e.Source = k, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		values[k] = e
	}
	for k, v := range broker.Node {
		e := values[k]
		e.Name, e.Value, e.Source = k, v, kmsg.ConfigSourceDynamicBrokerConfig
		values[k] = e
	}
	for k, v := range broker.Defaults {
		if _, ok := values[k]; !ok {
			typ, _ := BrokerConfigType(k)
			values[k] = ConfigEntry{Name: k, Value: v, Source: kmsg.ConfigSourceDefaultConfig, Type: typ, ReadOnly: true}
		}
	}
	out := make([]ConfigEntry, 0, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		e := values[k]
		e.Synonyms = brokerLevels(broker, k)
		if spec, ok := dynamicKeys[k]; ok {
			e.Synonyms = append(e.Synonyms, defaultSynonym(k, spec.Default))
		} else if v, ok := broker.Defaults[k]; ok {
			e.Synonyms = append(e.Synonyms, ConfigSynonym{Name: k, Value: v, Source: kmsg.ConfigSourceDefaultConfig})
		}
		e.Doc = broker.Docs[k]
		if spec, ok := dynamicKeys[k]; ok && e.Doc == "" {
			e.Doc = spec.Doc
		}
		e.Sensitive = strings.Contains(k, "password")
		if e.Sensitive {
			e.Value = ""
			for i := range e.Synonyms {
				e.Synonyms[i].Value = ""
			}
		}
		out = append(out, e)
	}
	return out
}

// brokerKeyAliases are Kafka's other keys of a broker key, in their order of
// precedence after it (log.retention.ms beats .minutes beats .hours), each
// with the factor from its unit to the key's: a broker lists them in
// server.properties (where the node keeps them as written) and by default
// under their own names, and among the key's synonyms.
var brokerKeyAliases = map[string][]keyAlias{
	"log.retention.ms": {{"log.retention.minutes", 60_000}, {"log.retention.hours", 3_600_000}},
	"log.roll.ms":      {{"log.roll.hours", 3_600_000}},
}

// keyAlias is one alias of a broker key.
type keyAlias struct {
	name       string
	multiplier int64
}

// BrokerDefaultConfigEntries lists the cluster-wide dynamic broker configs,
// sorted by name: what DescribeConfigs of the broker resource named ""
// answers (Kafka's kafka-configs --entity-type brokers --entity-default).
// As in Kafka, that is only the values set for every broker at run time,
// each with its dynamic default as its only synonym, not the configs a
// broker runs with (those are the resource named by its id).
func BrokerDefaultConfigEntries(broker BrokerConfigs) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(broker.Dynamic))
	broker.Node = nil
	for _, e := range BrokerConfigEntries(broker) {
		if _, ok := broker.Dynamic[e.Name]; !ok {
			continue
		}
		e.Synonyms = slices.DeleteFunc(e.Synonyms, func(s ConfigSynonym) bool {
			return s.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig
		})
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

package cluster

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The broker resource named "" (kafka-configs --entity-default) lists only
// the cluster-wide dynamic values, each with that level as its only
// synonym, as Kafka's does; the broker named by its id lists every config
// it runs with.
func TestBrokerDefaultConfigEntries(t *testing.T) {
	broker := BrokerConfigs{
		Dynamic:  map[string]string{"log.retention.ms": "3000", "min.insync.replicas": "2"},
		Static:   map[string]string{"log.retention.ms": "86400000", "log.dirs": "/data"},
		Defaults: map[string]string{"num.partitions": "1"},
	}
	show := func(entries []ConfigEntry) string {
		var s string
		for _, e := range entries {
			s += fmt.Sprintf("%s=%s %v %v\n", e.Name, e.Value, e.Source, e.Synonyms)
		}
		return s
	}
	want := "log.retention.ms=3000 DYNAMIC_DEFAULT_BROKER_CONFIG [{log.retention.ms 3000 DYNAMIC_DEFAULT_BROKER_CONFIG}]\n" +
		"min.insync.replicas=2 DYNAMIC_DEFAULT_BROKER_CONFIG [{min.insync.replicas 2 DYNAMIC_DEFAULT_BROKER_CONFIG}]\n"
	if got := show(BrokerDefaultConfigEntries(broker)); got != want {
		t.Errorf("defaults:\n%s\nwant\n%s", got, want)
	}
	if got := BrokerDefaultConfigEntries(BrokerConfigs{Static: broker.Static}); len(got) != 0 {
		t.Errorf("no dynamic value: %s", show(got))
	}
	all := map[string]ConfigEntry{}
	for _, e := range BrokerConfigEntries(broker) {
		all[e.Name] = e
	}
	if e := all["log.retention.ms"]; e.Value != "3000" || len(e.Synonyms) != 3 || e.Synonyms[1].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("the broker's log.retention.ms: %+v", e)
	}
	if e := all["log.dirs"]; e.Source != kmsg.ConfigSourceStaticBrokerConfig || all["num.partitions"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("the broker's static and default configs: %+v %+v", e, all["num.partitions"])
	}
}

// A broker's own dynamic value (the resource named by its id) comes before
// the cluster-wide one, in the broker's entries, their synonyms and the
// value its topics fall back to; the default resource ("") does not show it.
func TestBrokerOwnConfigs(t *testing.T) {
	broker := BrokerConfigs{
		Node:    map[string]string{"log.retention.ms": "1000"},
		Dynamic: map[string]string{"log.retention.ms": "3000", "log.segment.bytes": "4096"},
		Static:  map[string]string{"log.retention.ms": "86400000"},
	}
	all := map[string]ConfigEntry{}
	for _, e := range BrokerConfigEntries(broker) {
		all[e.Name] = e
	}
	e := all["log.retention.ms"]
	want := fmt.Sprint([]ConfigSynonym{{"log.retention.ms", "1000", kmsg.ConfigSourceDynamicBrokerConfig},
		{"log.retention.ms", "3000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{"log.retention.ms", "86400000", kmsg.ConfigSourceStaticBrokerConfig},
		{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig}})
	if e.Value != "1000" || e.Source != kmsg.ConfigSourceDynamicBrokerConfig || fmt.Sprint(e.Synonyms) != want {
		t.Errorf("log.retention.ms: %s %v %v, want 1000 DYNAMIC_BROKER_CONFIG %s", e.Value, e.Source, e.Synonyms, want)
	}
	if e := all["log.segment.bytes"]; e.Value != "4096" || e.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("log.segment.bytes: %+v", e)
	}
	if v, src := TopicConfigValue(&TopicImage{}, broker, "retention.ms"); v != "1000" || KafkaConfigSource(src) != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("retention.ms of a topic: %s %v, want 1000 from the broker's own config", v, src)
	}
	var topicSyn []ConfigSynonym
	for _, e := range TopicConfigEntries(&TopicImage{}, broker) {
		if e.Name == "retention.ms" {
			topicSyn = e.Synonyms
		}
	}
	if fmt.Sprint(topicSyn) != want {
		t.Errorf("retention.ms's synonyms %v, want %s", topicSyn, want)
	}
	for _, e := range BrokerDefaultConfigEntries(broker) {
		if e.Name == "log.retention.ms" && (e.Value != "3000" || len(e.Synonyms) != 1) {
			t.Errorf("the default resource's log.retention.ms: %+v", e)
		}
	}
}

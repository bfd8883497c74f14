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
		{"log.retention.hours", "168", kmsg.ConfigSourceDefaultConfig}})
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

// A retention given in server.properties by Kafka's other names
// (log.retention.minutes, log.retention.hours) is listed under them, as
// written, among a topic's retention.ms synonyms and the broker's
// log.retention.ms, in Kafka's order, and read from them: minutes before
// hours, each in its unit. Kafka's default is log.retention.hours=168.
func TestRetentionAliasSynonyms(t *testing.T) {
	for _, c := range []struct {
		static map[string]string
		value  string
		syns   string
	}{
		{map[string]string{"log.retention.hours": "24"}, "86400000",
			"[{log.retention.hours 24 STATIC_BROKER_CONFIG} {log.retention.hours 168 DEFAULT_CONFIG}]"},
		{map[string]string{"log.retention.hours": "24", "log.retention.minutes": "30"}, "1800000",
			"[{log.retention.minutes 30 STATIC_BROKER_CONFIG} {log.retention.hours 24 STATIC_BROKER_CONFIG} {log.retention.hours 168 DEFAULT_CONFIG}]"},
		{map[string]string{"log.retention.hours": "24", "log.retention.ms": "5000"}, "5000",
			"[{log.retention.ms 5000 STATIC_BROKER_CONFIG} {log.retention.hours 24 STATIC_BROKER_CONFIG} {log.retention.hours 168 DEFAULT_CONFIG}]"},
		{map[string]string{"log.retention.hours": "-1"}, "-1",
			"[{log.retention.hours -1 STATIC_BROKER_CONFIG} {log.retention.hours 168 DEFAULT_CONFIG}]"},
		{nil, "604800000", "[{log.retention.hours 168 DEFAULT_CONFIG}]"},
	} {
		broker := BrokerConfigs{Static: c.static}
		wantSrc := kmsg.ConfigSourceStaticBrokerConfig
		if c.static == nil {
			wantSrc = kmsg.ConfigSourceDefaultConfig
		}
		for _, e := range TopicConfigEntries(&TopicImage{}, broker) {
			if e.Name == "retention.ms" && (e.Value != c.value || e.Source != wantSrc || fmt.Sprint(e.Synonyms) != c.syns) {
				t.Errorf("%v: retention.ms %s %v %v, want %s %v %s", c.static, e.Value, e.Source, e.Synonyms, c.value, wantSrc, c.syns)
			}
		}
		for _, e := range BrokerConfigEntries(broker) {
			if e.Name == "log.retention.ms" && (e.Value != c.value || e.Source != wantSrc || fmt.Sprint(e.Synonyms) != c.syns) {
				t.Errorf("%v: log.retention.ms %s %v %v, want %s %v %s", c.static, e.Value, e.Source, e.Synonyms, c.value, wantSrc, c.syns)
			}
		}
		if s := ResolveTopicSettings(&TopicImage{}, broker, false); fmt.Sprint(s.Log.RetentionMs) != c.value {
			t.Errorf("%v: the log's retention %d, want %s", c.static, s.Log.RetentionMs, c.value)
		}
	}
}

// preallocate (log.preallocate) reaches the log's config: the store
// reserves whole segments with it (logstore/prealloc.go).
func TestResolveTopicSettingsPreallocate(t *testing.T) {
	for _, c := range []struct {
		topic, static map[string]string
		want          bool
	}{
		{nil, nil, false},
		{map[string]string{"preallocate": "true"}, nil, true},
		{nil, map[string]string{"log.preallocate": "true"}, true},
		{map[string]string{"preallocate": "false"}, map[string]string{"log.preallocate": "true"}, false},
	} {
		topic := &TopicImage{Name: "t", Configs: c.topic}
		if got := ResolveTopicSettings(topic, BrokerConfigs{Static: c.static}, false).Log.Preallocate; got != c.want {
			t.Errorf("topic %v broker %v: preallocate %v, want %v", c.topic, c.static, got, c.want)
		}
	}
}

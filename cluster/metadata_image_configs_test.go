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

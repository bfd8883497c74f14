package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// franz-go's kadm sets a broker's own config (kafka-configs --entity-type
// brokers --entity-name 1): the broker shows it as DYNAMIC_BROKER_CONFIG
// over the cluster-wide default, its topics fall back to it, and the
// default resource ("", --entity-default) does not list it, as on Kafka.
// gregor used to store it as the cluster-wide default. A broker's own
// min.insync.replicas is refused (the controller elects with the
// cluster-wide one).
func TestKadmBrokerOwnConfigs(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "own"); err != nil {
		t.Fatal(err)
	}
	alter := func(cfg kadm.AlterConfig, brokers ...int32) error {
		t.Helper()
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{cfg}, brokers...)
		if err != nil {
			t.Fatal(err)
		}
		return resps[0].Err
	}
	describe := func(brokers ...int32) map[string]kadm.Config {
		t.Helper()
		resps, err := adm.DescribeBrokerConfigs(ctx, brokers...)
		if err != nil || len(resps) != 1 || resps[0].Err != nil {
			t.Fatalf("DescribeBrokerConfigs %v: %v %+v", brokers, err, resps)
		}
		out := map[string]kadm.Config{}
		for _, c := range resps[0].Configs {
			out[c.Key] = c
		}
		return out
	}
	show := func(c kadm.Config) string {
		s := fmt.Sprintf("%s %s", c.MaybeValue(), c.Source)
		for _, syn := range c.Synonyms {
			s += fmt.Sprintf(" %s=%s", syn.Source, *syn.Value)
		}
		return s
	}
	retention := func() string {
		t.Helper()
		resps, err := adm.DescribeTopicConfigs(ctx, "own")
		if err != nil || resps[0].Err != nil {
			t.Fatalf("DescribeTopicConfigs: %v %+v", err, resps)
		}
		for _, c := range resps[0].Configs {
			if c.Key == "retention.ms" {
				return fmt.Sprintf("%s %s", c.MaybeValue(), c.Source)
			}
		}
		return "none"
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("3000000")}, 1); err != nil {
		t.Fatal(err)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("2000000")}); err != nil {
		t.Fatal(err)
	}
	if got, want := show(describe(1)["log.retention.ms"]), "3000000 DYNAMIC_BROKER_CONFIG DYNAMIC_BROKER_CONFIG=3000000 DYNAMIC_DEFAULT_BROKER_CONFIG=2000000 DEFAULT_CONFIG=168"; got != want {
		t.Errorf("broker 1's log.retention.ms: %s, want %s", got, want)
	}
	if got, want := show(describe()["log.retention.ms"]), "2000000 DYNAMIC_DEFAULT_BROKER_CONFIG DYNAMIC_DEFAULT_BROKER_CONFIG=2000000"; got != want {
		t.Errorf("the default broker resource's log.retention.ms: %s, want %s", got, want)
	}
	if got, want := retention(), "3000000 DYNAMIC_BROKER_CONFIG"; got != want {
		t.Errorf("topic retention.ms: %s, want %s", got, want)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "log.retention.ms"}, 1); err != nil {
		t.Fatal(err)
	}
	if got, want := retention(), "2000000 DYNAMIC_DEFAULT_BROKER_CONFIG"; got != want {
		t.Errorf("topic retention.ms after broker 1's own value was deleted: %s, want %s", got, want)
	}
	err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("2")}, 1)
	if err == nil || !strings.Contains(err.Error(), "INVALID_CONFIG") {
		t.Errorf("broker 1's own min.insync.replicas: %v, want INVALID_CONFIG", err)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SetConfig, Name: "min.insync.replicas", Value: kadm.StringPtr("1")}); err != nil {
		t.Errorf("every broker's min.insync.replicas: %v", err)
	}
}

// DescribeConfigs of a broker lists Kafka's alias keys under their own
// names, as Kafka's brokers do: log.retention.hours as given in the
// configuration (and among log.retention.ms's synonyms), log.roll.hours at
// its default, broker.id as node.id. gregor's old name log.segment.ms is
// read as log.roll.ms and not listed. Setting an alias at run time is
// refused with the key to set instead.
func TestKadmBrokerAliasConfigs(t *testing.T) {
	b := startBroker(t, "log.retention.hours=24", "log.segment.ms=60000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	resps, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs: %v %+v", err, resps)
	}
	got := map[string]string{}
	for _, c := range resps[0].Configs {
		s := fmt.Sprintf("%s %s", c.MaybeValue(), c.Source)
		if c.Key == "log.retention.ms" {
			for _, syn := range c.Synonyms {
				s += fmt.Sprintf(" %s=%s/%s", syn.Key, *syn.Value, syn.Source)
			}
		}
		got[c.Key] = s
	}
	for key, want := range map[string]string{
		"log.retention.hours": "24 STATIC_BROKER_CONFIG",
		"log.retention.ms":    "86400000 STATIC_BROKER_CONFIG log.retention.hours=24/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG",
		"log.roll.hours":      "168 DEFAULT_CONFIG",
		"log.roll.ms":         "60000 STATIC_BROKER_CONFIG",
		"log.segment.ms":      "",
		"broker.id":           "1 STATIC_BROKER_CONFIG",
		"node.id":             "1 STATIC_BROKER_CONFIG",
	} {
		if got[key] != want {
			t.Errorf("%s: %q, want %q", key, got[key], want)
		}
	}
	// A topic's retention.ms comes from log.retention.hours, and says so.
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "aliased"); err != nil {
		t.Fatal(err)
	}
	tcs, err := adm.DescribeTopicConfigs(ctx, "aliased")
	if err != nil || len(tcs) != 1 || tcs[0].Err != nil {
		t.Fatalf("DescribeTopicConfigs: %v %+v", err, tcs)
	}
	for _, c := range tcs[0].Configs {
		if c.Key != "retention.ms" {
			continue
		}
		s := fmt.Sprintf("%s %s", c.MaybeValue(), c.Source)
		for _, syn := range c.Synonyms {
			s += fmt.Sprintf(" %s=%s/%s", syn.Key, *syn.Value, syn.Source)
		}
		if want := "86400000 STATIC_BROKER_CONFIG log.retention.hours=24/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"; s != want {
			t.Errorf("topic retention.ms: %q, want %q", s, want)
		}
	}
	alter, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.hours", Value: kadm.StringPtr("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := alter[0].Err; err == nil || !strings.Contains(err.Error(), "INVALID_CONFIG") || !strings.Contains(alter[0].ErrMessage, "log.retention.ms") {
		t.Errorf("setting log.retention.hours: %v %q, want INVALID_CONFIG naming log.retention.ms", err, alter[0].ErrMessage)
	}
}

// DescribeConfigs (v3+) types a broker's read-only configs as Kafka's broker
// does (INT, LONG, SHORT, BOOLEAN, LIST), not all as STRING: clients that
// check or convert a value by its type (Kafka's AdminClient ConfigEntry.type)
// get the type Kafka gives.
func TestBrokerConfigTypes(t *testing.T) {
	b := startBroker(t, "log.retention.hours=24")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, b.client(t))
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("DescribeConfigs: %v %+v", err, resp)
	}
	got := map[string]kmsg.ConfigType{}
	for _, c := range resp.Resources[0].Configs {
		got[c.Name] = c.ConfigType
	}
	for key, want := range map[string]kmsg.ConfigType{
		"auto.create.topics.enable":        kmsg.ConfigTypeBoolean,
		"node.id":                          kmsg.ConfigTypeInt,
		"broker.id":                        kmsg.ConfigTypeInt,
		"connections.max.idle.ms":          kmsg.ConfigTypeLong,
		"offsets.topic.replication.factor": kmsg.ConfigTypeShort,
		"process.roles":                    kmsg.ConfigTypeList,
		"log.retention.hours":              kmsg.ConfigTypeInt,
		"log.roll.hours":                   kmsg.ConfigTypeInt,
		"log.dirs":                         kmsg.ConfigTypeString,
		"listeners":                        kmsg.ConfigTypeString,
		"log.retention.ms":                 kmsg.ConfigTypeLong,
		"min.insync.replicas":              kmsg.ConfigTypeInt,
	} {
		if got[key] != want {
			t.Errorf("%s: type %v, want %v", key, got[key], want)
		}
	}
}

// A broker-wide topic default given in server.properties (log.preallocate,
// log.cleaner.min.cleanable.ratio, ...) is what a topic that does not set
// the config takes, and franz-go's kadm sees it so: the broker lists it as
// STATIC_BROKER_CONFIG, and the topic's config comes from it. gregor used to warn about such keys and ignore them.
func TestServerPropertiesTopicDefaults(t *testing.T) {
	b := startBroker(t, "log.preallocate=true", "log.cleaner.min.cleanable.ratio=0.2", "log.roll.jitter.ms=7")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	resps, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs: %v %+v", err, resps)
	}
	checkConfigSources(t, "broker", resps[0].Configs, map[string]string{
		"log.preallocate":                 "true STATIC_BROKER_CONFIG",
		"log.cleaner.min.cleanable.ratio": "0.2 STATIC_BROKER_CONFIG",
		"log.roll.jitter.ms":              "7 STATIC_BROKER_CONFIG",
	})
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "defaulted"); err != nil {
		t.Fatal(err)
	}
	tcs, err := adm.DescribeTopicConfigs(ctx, "defaulted")
	if err != nil || len(tcs) != 1 || tcs[0].Err != nil {
		t.Fatalf("DescribeTopicConfigs: %v %+v", err, tcs)
	}
	checkConfigSources(t, "topic", tcs[0].Configs, map[string]string{
		"preallocate":               "true STATIC_BROKER_CONFIG",
		"min.cleanable.dirty.ratio": "0.2 STATIC_BROKER_CONFIG",
		"segment.jitter.ms":         "7 STATIC_BROKER_CONFIG",
	})
}

// checkConfigSources checks that each key of want is among configs with
// the value and source want gives ("value SOURCE").
func checkConfigSources(t *testing.T, what string, configs []kadm.Config, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, c := range configs {
		got[c.Key] = fmt.Sprintf("%s %s", c.MaybeValue(), c.Source)
	}
	for key, w := range want {
		if got[key] != w {
			t.Errorf("%s %s: %q, want %q", what, key, got[key], w)
		}
	}
}

// DescribeConfigs (v3+) asked for documentation describes each config, of a
// broker and of a topic, as Kafka's broker does; not asked, it leaves the
// documentation out.
func TestConfigDocumentation(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin(t).CreateTopic(ctx, 1, 1, nil, "documented"); err != nil {
		t.Fatal(err)
	}
	describe := func(withDoc bool) map[string]*string {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeDocumentation = withDoc
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeTopic, "documented"}} {
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = r.typ, r.name
			req.Resources = append(req.Resources, res)
		}
		resp, err := req.RequestWith(ctx, b.client(t))
		if err != nil || len(resp.Resources) != 2 {
			t.Fatalf("DescribeConfigs: %v %+v", err, resp)
		}
		docs := map[string]*string{}
		for _, res := range resp.Resources {
			if res.ErrorCode != 0 {
				t.Fatalf("DescribeConfigs %s: error %d", res.ResourceName, res.ErrorCode)
			}
			for _, c := range res.Configs {
				docs[res.ResourceName+" "+c.Name] = c.Documentation
			}
		}
		return docs
	}
	docs := describe(true)
	for _, key := range []string{"1 log.dirs", "1 listeners", "1 log.retention.ms", "1 min.insync.replicas", "documented retention.ms", "documented cleanup.policy"} {
		if d, ok := docs[key]; !ok || d == nil || *d == "" {
			t.Errorf("%s: no documentation", key)
		}
	}
	for key, d := range describe(false) {
		if d != nil {
			t.Errorf("%s: documentation %q given unasked", key, *d)
		}
	}
}

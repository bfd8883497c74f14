package actors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// updateFeature moves one feature to level with UpdateFeatures (upgradeType
// 1 upgrade, 2 safe downgrade, 3 unsafe downgrade) and returns the request's
// or the feature's error.
func updateFeature(ctx context.Context, adm *kadm.Client, feature string, level int16, upgradeType int8) error {
	res, err := adm.UpdateFeatures(ctx, false, kadm.FeatureUpdate{Feature: feature, MaxVersionLevel: level, UpgradeType: upgradeType})
	if err != nil {
		return err
	}
	return res.Error()
}

func describeTopicConfig(t *testing.T, adm *kadm.Client, topic, key string) (string, kmsg.ConfigSource) {
	t.Helper()
	c := describedTopicConfig(t, adm, topic, key)
	return c.MaybeValue(), c.Source
}

// describeTopicSynonyms lists a topic config's synonyms as
// "name=value/SOURCE ...", the one in force first.
func describeTopicSynonyms(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	var out []string
	for _, syn := range describedTopicConfig(t, adm, topic, key).Synonyms {
		v := "<null>"
		if syn.Value != nil {
			v = *syn.Value
		}
		out = append(out, fmt.Sprintf("%s=%s/%s", syn.Key, v, syn.Source))
	}
	return strings.Join(out, " ")
}

// describedTopicConfig is the config key of topic as DescribeConfigs
// answers it.
func describedTopicConfig(t *testing.T, adm *kadm.Client, topic, key string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("%s has no config %s", topic, key)
	return kadm.Config{}
}

func TestAlterAndDescribeConfigs(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.StaticBrokerConfigs["log.retention.ms"] = "1000000"
		c.BrokerConfigKeys = []string{"num.partitions"}
	})
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")}, "cfg"); err != nil {
		t.Fatal(err)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1048576" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("segment.bytes = %s from %v", v, src)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "retention.ms"); v != "1000000" || src != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("retention.ms = %s from %v, want the broker's static value", v, src)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "cleanup.policy"); v != "delete" || src != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy = %s from %v", v, src)
	}
	// Incremental: set one, keep the other.
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("5000")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("incremental alter: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "retention.ms"); v != "5000" {
		t.Fatalf("retention.ms after alter = %s", v)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1048576" {
		t.Fatalf("segment.bytes lost by an incremental alter: %s", v)
	}
	// APPEND to a list config.
	resps, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("append: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "cleanup.policy"); v != "delete,compact" {
		t.Fatalf("cleanup.policy after append = %s", v)
	}
	// Non-incremental AlterConfigs replaces everything.
	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("2000")}}, "cfg")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("state alter: %v %+v", err, resps)
	}
	if v, _ := describeTopicConfig(t, adm, "cfg", "segment.bytes"); v != "1073741824" {
		t.Fatalf("segment.bytes after a replacing alter = %s, want the default", v)
	}
	// Bad values and unknown names are INVALID_CONFIG.
	for _, ac := range []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("-7")}, {Name: "nope", Value: kadm.StringPtr("1")}} {
		resps, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, "cfg")
		if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
			t.Fatalf("alter %s: %v %+v", ac.Name, err, resps)
		}
	}
	// Broker-wide dynamic default.
	bresps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.bytes", Value: kadm.StringPtr("123456")}})
	if err != nil || bresps[0].Err != nil {
		t.Fatalf("broker alter: %v %+v", err, bresps)
	}
	if v, src := describeTopicConfig(t, adm, "cfg", "retention.bytes"); v != "123456" || src != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Fatalf("retention.bytes = %s from %v", v, src)
	}
	// The broker resource "" (kafka-configs --entity-default) lists what was
	// set for every broker, alone, as Kafka's does; the broker's own id
	// lists every config it runs with.
	if got := describeBrokerConfigNames(t, newClient(t, n), ""); got != "log.retention.bytes=123456/DYNAMIC_DEFAULT_BROKER_CONFIG" {
		t.Fatalf("the dynamic broker defaults: %s", got)
	}
	if got := describeBrokerConfigNames(t, newClient(t, n), "1"); !strings.Contains(got, "log.retention.bytes=123456/DYNAMIC_DEFAULT_BROKER_CONFIG") ||
		!strings.Contains(got, "log.retention.ms=1000000/STATIC_BROKER_CONFIG") {
		t.Fatalf("broker 1's configs: %s", got)
	}
	// Synonyms (include_synonyms): every level's value, the one in force first.
	if got, want := describeTopicSynonyms(t, adm, "cfg", "retention.bytes"), "log.retention.bytes=123456/DYNAMIC_DEFAULT_BROKER_CONFIG log.retention.bytes=-1/DEFAULT_CONFIG"; got != want {
		t.Fatalf("retention.bytes synonyms = %s, want %s", got, want)
	}
	if got, want := describeTopicSynonyms(t, adm, "cfg", "max.message.bytes"), "max.message.bytes=2000/DYNAMIC_TOPIC_CONFIG message.max.bytes=1048588/DEFAULT_CONFIG"; got != want {
		t.Fatalf("max.message.bytes synonyms = %s, want %s", got, want)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("5000")}}, "cfg"); err != nil {
		t.Fatal(err)
	}
	if got, want := describeTopicSynonyms(t, adm, "cfg", "retention.ms"), "retention.ms=5000/DYNAMIC_TOPIC_CONFIG log.retention.ms=1000000/STATIC_BROKER_CONFIG log.retention.hours=168/DEFAULT_CONFIG"; got != want {
		t.Fatalf("retention.ms synonyms = %s, want %s", got, want)
	}
	bresps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("3")}})
	if err != nil || !errors.Is(bresps[0].Err, kerr.InvalidRequest) {
		t.Fatalf("read-only broker config altered: %v %+v", err, bresps)
	}
}

func TestDeleteTopicRemovesData(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("gone"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	resp, err := adm.DeleteTopics(ctx, "gone")
	if err != nil || resp["gone"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	// The partition directory is renamed aside at once, then removed.
	waitFor(t, 10*time.Second, "the partition directory to be removed", func() bool {
		names, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range names {
			if strings.HasPrefix(e.Name(), "gone-0") {
				return false
			}
		}
		return true
	})
	if _, err := os.Stat(filepath.Join(dir, "gone-0")); !os.IsNotExist(err) {
		t.Fatalf("gone-0: %v", err)
	}
	if testutil.CollectAndCount(n.metrics.logEndOffset) != 0 || testutil.CollectAndCount(n.metrics.topicBytesIn) != 0 {
		t.Fatal("the deleted topic's metric series are still there")
	}
	resp, err = adm.DeleteTopics(ctx, "gone")
	if err != nil || !errors.Is(resp["gone"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v %+v", err, resp)
	}
	// The name is free again at once, with a new id and no old data.
	if cr, err := adm.CreateTopic(ctx, 1, 1, nil, "gone"); err != nil || cr.Err != nil {
		t.Fatalf("create again: %v %+v", err, cr)
	}
	offs, err := adm.ListEndOffsets(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("gone", 0); o.Offset != 0 {
		t.Fatalf("recreated topic ends at %d", o.Offset)
	}
}

func TestCreatePartitionsAndDeleteRecords(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	cr, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || cr["grow"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cr)
	}
	cr, err = adm.CreatePartitions(ctx, 0, "grow")
	if err != nil || !errors.Is(cr["grow"].Err, kerr.InvalidPartitions) {
		t.Fatalf("no-op create partitions: %v %+v", err, cr)
	}
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "grow", Partition: 2, Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 4})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("grow", 2); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", r)
	}
	os = kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "grow", Partition: 2, At: 11})
	dr, _ = adm.DeleteRecords(ctx, os)
	if r, _ := dr.Lookup("grow", 2); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the high watermark: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "grow")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("grow", 2); o.Offset != 4 {
		t.Fatalf("start offset %d", o.Offset)
	}
	consumer := newClient(t, n, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"grow": {2: kgo.NewOffset().At(1)}}))
	fs := consumer.PollFetches(ctx)
	// Reading below the log start offset resets (auto.offset.reset defaults to earliest in kgo).
	var first int64 = -1
	fs.EachRecord(func(r *kgo.Record) {
		if first < 0 {
			first = r.Offset
		}
	})
	if first != 4 {
		t.Fatalf("first record after DeleteRecords at offset %d", first)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPartitionActorRestartsAfterPanic(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.DefaultProduceTopic("phoenix"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 5; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	pid := n.routes.load().partition("phoenix", 0)
	// A message no partition actor ever gets is a broken invariant: it
	// panics, and supervision restarts it.
	n.system.Root.Send(pid, &unexpectedPartitionMessage{})
	// The restarted actor rebuilt its core from the log: offsets continue.
	res := cl.ProduceSync(ctx, kgo.StringRecord("after"))
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r, _ := res.First(); r.Offset != 5 {
		t.Fatalf("first record after the restart got offset %d, want 5", r.Offset)
	}
	if n.routes.load().partition("phoenix", 0) == nil {
		t.Fatal("partition went offline after one panic")
	}
	consumer := newClient(t, n, kgo.ConsumeTopics("phoenix"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var vals []string
	for len(vals) < 6 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	if fmt.Sprint(vals) != "[0 1 2 3 4 after]" {
		t.Fatalf("records %v", vals)
	}
}

// describeBrokerConfigNames lists a broker resource's configs as
// name=value/SOURCE, space-separated.
func describeBrokerConfigNames(t *testing.T, cl *kgo.Client, name string) string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBroker, name
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe broker %q: %v %+v", name, err, resp)
	}
	var out []string
	for _, c := range resp.Resources[0].Configs {
		out = append(out, fmt.Sprintf("%s=%s/%v", c.Name, *c.Value, c.Source))
	}
	return strings.Join(out, " ")
}

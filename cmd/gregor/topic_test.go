package main

import (
	"context"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// configLine matches describe's line for a config: key, value, source.
func configLine(key, value, source string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` +` + regexp.QuoteMeta(value) + ` +` + source + `$`)
}

func TestTopicLifecycle(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	topic := func(args ...string) []string { return append(append([]string{"topic"}, args...), b...) }

	create := mustRun(t, "", topic("create", "orders", "payments", "-p", "3", "-r", "1", "-c", "retention.ms=3600000", "-c", "cleanup.policy=compact")...)
	if want := "TOPIC     STATUS\norders    OK\npayments  OK\n"; create.stdout != want {
		t.Errorf("create printed\n%s\nwant\n%s", create.stdout, want)
	}
	mustRun(t, "", topic("create", "defaults")...) // the node's num.partitions is 1

	list := mustRun(t, "", topic("list")...)
	if want := "NAME      PARTITIONS  REPLICAS\ndefaults  1           1\norders    3           1\npayments  3           1\n"; list.stdout != want {
		t.Errorf("list printed\n%s\nwant\n%s", list.stdout, want)
	}

	describe := mustRun(t, "", topic("describe", "orders")...)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^NAME +orders$`),
		regexp.MustCompile(`(?m)^ID +[A-Za-z0-9_-]{22}$`), // Kafka's Uuid form
		regexp.MustCompile(`(?m)^PARTITIONS +3$`),
		regexp.MustCompile(`(?m)^REPLICAS +1$`),
		configLine("retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"),
		configLine("cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG"),
		configLine("segment.ms", "604800000", "DEFAULT_CONFIG"),
		regexp.MustCompile(`(?m)^PARTITION +LEADER +EPOCH +REPLICAS +ISR +OFFLINE +ELR +LAST-KNOWN-ELR +LOG-START-OFFSET +HIGH-WATERMARK$`),
		regexp.MustCompile(`(?m)^0 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +0 +0$`),
		regexp.MustCompile(`(?m)^1 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +0 +0$`),
		regexp.MustCompile(`(?m)^2 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +0 +0$`),
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("describe output has no match for %s:\n%s", re, describe.stdout)
		}
	}

	alter := mustRun(t, "", topic("alter-config", "orders", "--set", "segment.ms=60000", "--set", "max.message.bytes=2048", "--delete", "retention.ms")...)
	if want := "TOPIC   STATUS\norders  OK\n"; alter.stdout != want {
		t.Errorf("alter-config printed\n%s\nwant\n%s", alter.stdout, want)
	}
	describe = mustRun(t, "", topic("describe", "orders")...)
	for _, re := range []*regexp.Regexp{
		configLine("segment.ms", "60000", "DYNAMIC_TOPIC_CONFIG"),
		configLine("max.message.bytes", "2048", "DYNAMIC_TOPIC_CONFIG"),
		configLine("retention.ms", "604800000", "DEFAULT_CONFIG"),
		configLine("cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG"), // incremental: untouched
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("after alter-config, describe has no match for %s:\n%s", re, describe.stdout)
		}
	}

	mustRun(t, "", topic("delete", "payments", "defaults")...)
	list = mustRun(t, "", topic("list")...)
	if want := "NAME    PARTITIONS  REPLICAS\norders  3           1\n"; list.stdout != want {
		t.Errorf("after delete, list printed\n%s\nwant\n%s", list.stdout, want)
	}
}

// TestTopicListShowsInternalTopics checks that topic list shows the
// internal topics, as kafka-topics --list does, and leaves them out with
// Kafka's --exclude-internal.
func TestTopicListShowsInternalTopics(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	mustRun(t, "", "topic", "create", "orders", "-p", "2", "-b", addr)
	// A group coordinator lookup creates __consumer_offsets, as in Kafka.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	for {
		coordinator := kadm.NewClient(cl).FindGroupCoordinators(ctx, "g")["g"]
		if coordinator.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("find the coordinator of group g: %v", coordinator.Err)
		}
	}

	want := "NAME                PARTITIONS  REPLICAS\n__consumer_offsets  50          1\norders              2           1\n"
	if list := mustRun(t, "", append([]string{"topic", "list"}, b...)...); list.stdout != want {
		t.Errorf("list printed\n%s\nwant\n%s", list.stdout, want)
	}
	want = "NAME    PARTITIONS  REPLICAS\norders  2           1\n"
	if list := mustRun(t, "", append([]string{"topic", "list", "--exclude-internal"}, b...)...); list.stdout != want {
		t.Errorf("list --exclude-internal printed\n%s\nwant\n%s", list.stdout, want)
	}
	// So does describe without a topic named, as kafka-topics --describe.
	names := regexp.MustCompile(`(?m)^NAME +(\S+)$`)
	describedNames := func(args ...string) []string {
		var out []string
		for _, m := range names.FindAllStringSubmatch(mustRun(t, "", append(append([]string{"topic", "describe"}, args...), b...)...).stdout, -1) {
			out = append(out, m[1])
		}
		return out
	}
	if got := describedNames(); !slices.Equal(got, []string{"__consumer_offsets", "orders"}) {
		t.Errorf("describe described %q, want __consumer_offsets and orders", got)
	}
	if got := describedNames("--exclude-internal"); !slices.Equal(got, []string{"orders"}) {
		t.Errorf("describe --exclude-internal described %q, want orders", got)
	}
}

// TestTopicErrors checks that a failing topic request exits non-zero and
// shows Kafka's error name and text, with the broker's message.
func TestTopicErrors(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	topic := func(args ...string) []string { return append(append([]string{"topic"}, args...), b...) }
	mustRun(t, "", topic("create", "exists")...)

	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"create existing", topic("create", "exists"),
			[]string{"create: 1 of 1 topics failed", `TOPIC_ALREADY_EXISTS: topic "exists" already exists`}},
		{"create one existing of two", topic("create", "exists", "fresh"),
			[]string{"create: 1 of 2 topics failed", "fresh   OK"}},
		{"create too many replicas", topic("create", "rf3", "-r", "3"),
			[]string{"INVALID_REPLICATION_FACTOR"}},
		{"create invalid config", topic("create", "badcfg", "-c", "retention.ms=soon"),
			[]string{`INVALID_CONFIG: invalid value for retention.ms: "soon" is not a whole number`}},
		{"create malformed config flag", topic("create", "x", "-c", "retention.ms"),
			[]string{`topic config "retention.ms": want key=value`}},
		{"create invalid name", topic("create", "no spaces"),
			[]string{"INVALID_TOPIC_EXCEPTION"}},
		{"describe unknown", topic("describe", "missing"),
			[]string{"describe: 1 of 1 topics could not be described", "missing: UNKNOWN_TOPIC_OR_PARTITION: no such topic (gregor topic list shows the topics there are)"}},
		{"delete unknown", topic("delete", "missing"),
			[]string{"delete: 1 of 1 topics failed", "UNKNOWN_TOPIC_OR_PARTITION: no such topic (gregor topic list shows the topics there are)"}},
		{"alter-config unknown", topic("alter-config", "missing", "--set", "retention.ms=1"),
			[]string{"alter-config: 1 of 1 topics failed", "UNKNOWN_TOPIC_OR_PARTITION"}},
		{"alter-config invalid value", topic("alter-config", "exists", "--set", "retention.ms=soon"),
			[]string{"INVALID_CONFIG"}},
		{"alter-config nothing to do", topic("alter-config", "exists"),
			[]string{"give at least one --set key=value or --delete key"}},
		{"alter-config a key twice", topic("alter-config", "exists", "--set", "retention.ms=1000", "--delete", "retention.ms"),
			[]string{"alter-config: retention.ms is given more than once (--set, --delete)"}},
		{"no topic", topic("create"),
			[]string{"requires at least 1 arg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustFail(t, "", tt.args, tt.wants...)
		})
	}

	// The topic a failed request named must be as it was.
	describe := mustRun(t, "", topic("describe", "exists", "fresh")...)
	if !configLine("retention.ms", "604800000", "DEFAULT_CONFIG").MatchString(describe.stdout) || !strings.Contains(describe.stdout, "NAME        fresh") {
		t.Errorf("describe after failed requests:\n%s", describe.stdout)
	}
}

// TestPartialOffsets checks that describe keeps the offsets the reachable
// leaders listed when a leader could not be asked (a node down), showing
// the others as unknown, and fails only when no broker answered.
func TestPartialOffsets(t *testing.T) {
	listed := kadm.ListedOffsets{"orders": {0: {Topic: "orders", Partition: 0, Offset: 42}}}
	down := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "orders"
	for _, p := range []int32{1, 2} {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	down.Topics = append(down.Topics, rt)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	shardErr := &kadm.ShardErrors{Name: "ListOffsets", Errs: []kadm.ShardError{{Req: down, Err: refused, Broker: kadm.BrokerDetail{NodeID: 2}}}}

	got, err := partialOffsets(listed, shardErr)
	if err != nil {
		t.Fatalf("partialOffsets with one broker down: %v", err)
	}
	for p, want := range map[int32]string{0: "42", 1: "unknown (leader down)", 2: "unknown (leader down)", 3: "-"} {
		if text := listedOffsetText(got, "orders", p); text != want {
			t.Errorf("partition %d: %q, want %q", p, text, want)
		}
	}
	shardErr.AllFailed = true
	if _, err := partialOffsets(listed, shardErr); err == nil {
		t.Error("partialOffsets with every broker down: no error")
	}
}

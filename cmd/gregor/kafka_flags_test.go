package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestKafkaFlagNames checks that the verbs take Kafka's tools' flag names for
// their own (kafka-topics --create --topic T --partitions 2
// --replication-factor 1 --bootstrap-server ..., kafka-console-consumer
// --from-beginning --max-messages N, kafka-consumer-groups --group G,
// kafka-topics --if-not-exists and --if-exists), and
// that an alias is unknown, under the name typed, in a command without the
// flag it stands for.
func TestKafkaFlagNames(t *testing.T) {
	addr := startTestNode(t)
	server := []string{"--bootstrap-server", addr}
	with := func(args ...string) []string { return append(args, server...) }

	create := mustRun(t, "", with("topic", "create", "--topic", "orders", "--topic", "audit", "--partitions", "2", "--replication-factor", "1")...)
	if want := "TOPIC   STATUS\naudit   OK\norders  OK\n"; create.stdout != want {
		t.Errorf("create printed\n%s\nwant\n%s", create.stdout, want)
	}
	// kafka-topics --describe without --topic describes every topic.
	all := mustRun(t, "", with("topic", "describe")...)
	if names := regexp.MustCompile(`(?m)^NAME +(\S+)$`).FindAllStringSubmatch(all.stdout, -1); len(names) != 2 || names[0][1] != "audit" || names[1][1] != "orders" {
		t.Errorf("topic describe without a topic described %v:\n%s", names, all.stdout)
	}
	describe := mustRun(t, "", with("topic", "describe", "--topic", "orders")...)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^NAME +orders$`),
		regexp.MustCompile(`(?m)^PARTITIONS +2$`),
		regexp.MustCompile(`(?m)^REPLICAS +1$`),
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("describe --topic: no match for %s:\n%s", re, describe.stdout)
		}
	}
	mustRun(t, "a\nb\nc\n", with("produce", "--topic", "orders", "-p", "0", "-q")...)
	consume := mustRun(t, "", with("consume", "--topic", "orders", "--from-beginning", "--max-messages", "2")...)
	if want := "a\nb\n"; consume.stdout != want {
		t.Errorf("consume --from-beginning --max-messages 2 printed %q, want %q", consume.stdout, want)
	}
	// kafka-consumer-groups names the group with --group.
	mustRun(t, "", with("group", "reset-offsets", "--group", "readers", "--topic", "orders", "--to-offset", "1")...)
	group := mustRun(t, "", with("group", "describe", "--group", "readers")...)
	if !regexp.MustCompile(`(?m)^orders +0 +1 +3 +2 `).MatchString(group.stdout) {
		t.Errorf("group describe --group readers:\n%s", group.stdout)
	}
	mustRun(t, "", with("group", "delete", "--group", "readers")...)
	mustRun(t, "", with("topic", "alter-config", "--topic", "audit", "--set", "retention.ms=60000")...)
	mustRun(t, "", with("topic", "delete", "--topic", "audit")...)

	// kafka-topics --if-not-exists and --if-exists: the topic's state
	// being already what was asked is no failure.
	mustFail(t, "", with("topic", "create", "--topic", "orders"), "TOPIC_ALREADY_EXISTS")
	again := mustRun(t, "", with("topic", "create", "--topic", "orders", "--if-not-exists")...)
	if want := "TOPIC   STATUS\norders  OK (already exists)\n"; again.stdout != want {
		t.Errorf("create --if-not-exists printed\n%s\nwant\n%s", again.stdout, want)
	}
	mustFail(t, "", with("topic", "delete", "--topic", "audit"), "UNKNOWN_TOPIC_OR_PARTITION")
	gone := mustRun(t, "", with("topic", "delete", "--topic", "audit", "--if-exists")...)
	if want := "TOPIC  STATUS\naudit  OK (no such topic)\n"; gone.stdout != want {
		t.Errorf("delete --if-exists printed\n%s\nwant\n%s", gone.stdout, want)
	}

	help := mustRun(t, "", "topic", "create", "--help")
	for _, want := range []string{"also --replication-factor", "also --bootstrap-server", "--topic"} {
		if !strings.Contains(help.stdout, want) {
			t.Errorf("topic create --help does not say %q:\n%s", want, help.stdout)
		}
	}
	mustFail(t, "", []string{"cluster", "up", "--dir", t.TempDir(), "--replication-factor", "3"}, "unknown flag: --replication-factor")
	mustFail(t, "", with("consume", "--topic", "orders", "--from-beginning", "-o", "end"), "--from-beginning is --offset start")
	mustFail(t, "", with("produce", "orders", "--topic", "audit"), "accepts 1 arg(s), received 2")
}

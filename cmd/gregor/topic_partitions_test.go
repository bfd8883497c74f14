package main

import (
	"strings"
	"testing"
)

// TestTopicAddPartitions grows a topic as an operator would, by the new
// count (kafka-topics --alter --partitions) and by how many more, checks
// --validate-only changes nothing, and that shrinking, an unknown topic and
// a missing count are refused with Kafka's codes or a usage message.
func TestTopicAddPartitions(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	topic := func(args ...string) []string { return append(append([]string{"topic"}, args...), b...) }
	mustRun(t, "", topic("create", "grow", "-p", "2")...)
	count := func() string {
		list := mustRun(t, "", topic("list")...)
		for _, line := range strings.Split(list.stdout, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "grow" {
				return f[1]
			}
		}
		t.Fatalf("grow not listed:\n%s", list.stdout)
		return ""
	}

	if out := mustRun(t, "", topic("add-partitions", "grow", "--partitions", "4")...); out.stdout != "TOPIC  STATUS\ngrow   OK\n" {
		t.Errorf("add-partitions printed\n%s", out.stdout)
	}
	if got := count(); got != "4" {
		t.Errorf("after --partitions 4: %s partitions", got)
	}
	mustRun(t, "", topic("add-partitions", "grow", "--add", "3", "--validate-only")...)
	if got := count(); got != "4" {
		t.Errorf("--validate-only changed the count to %s", got)
	}
	mustRun(t, "", topic("add-partitions", "--topic", "grow", "--add", "3")...)
	if got := count(); got != "7" {
		t.Errorf("after --add 3: %s partitions", got)
	}
	mustFail(t, "", topic("add-partitions", "grow", "-p", "3"),
		"add-partitions: 1 of 1 topics failed", `INVALID_PARTITIONS: topic "grow" has 7 partitions, which is higher than the requested 3`)
	mustFail(t, "", topic("add-partitions", "grow", "missing", "--add", "1"),
		"add-partitions: 1 of 2 topics failed", "missing  UNKNOWN_TOPIC_OR_PARTITION")
	mustFail(t, "", topic("add-partitions", "grow"), "give either --partitions N (the new count) or --add N (how many more)")
	mustFail(t, "", topic("add-partitions", "grow", "-p", "9", "--add", "1"), "give either --partitions N")
	if got := count(); got != "8" {
		t.Errorf("after the refusals: %s partitions, want 8 (7 and the one added beside the unknown topic)", got)
	}
}

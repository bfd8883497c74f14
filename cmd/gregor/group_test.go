package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupFixture makes topic "orders" (2 partitions, 10 records each, the
// second half written at after) and group "app", whose consumer reads
// everything and commits 7 and 4, and returns the consumer still in the
// group.
func groupFixture(t *testing.T, addr string, after time.Time) *kgo.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		r := &kgo.Record{Topic: "orders", Partition: int32(i % 2), Value: []byte(fmt.Sprint("o", i))}
		if i >= 10 {
			r.Timestamp = after.Add(time.Duration(i) * time.Millisecond)
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("app"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("app-client"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(member.Close)
	got := 0
	for got < 20 {
		fs := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group member read %d of 20", got)
		}
		got += len(fs.Records())
	}
	var commitErr error
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"orders": {0: {Epoch: -1, Offset: 7}, 1: {Epoch: -1, Offset: 4}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	return member
}

func TestGroupCommands(t *testing.T) {
	addr := startTestNode(t)
	b := []string{"-b", addr}
	group := func(args ...string) []string { return append(append([]string{"group"}, args...), b...) }
	// Within message.timestamp.after.max.ms (one hour) of the broker's clock.
	middle := time.Now().Add(30 * time.Minute)
	member := groupFixture(t, addr, middle)

	list := mustRun(t, "", group("list")...)
	if want := "GROUP  TYPE     STATE   PROTOCOL-TYPE\napp    classic  Stable  consumer\n"; list.stdout != want {
		t.Errorf("list printed\n%s\nwant\n%s", list.stdout, want)
	}
	if empty := mustRun(t, "", group("list", "--state", "Empty")...); empty.stdout != "GROUP  TYPE  STATE  PROTOCOL-TYPE\n" {
		t.Errorf("list --state Empty printed\n%s", empty.stdout)
	}

	describe := mustRun(t, "", group("describe", "app")...)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^GROUP +app$`),
		regexp.MustCompile(`(?m)^STATE +Stable$`),
		regexp.MustCompile(`(?m)^MEMBERS +1$`),
		regexp.MustCompile(`(?m)^app-client-\S+ +- +app-client +/127\.0\.0\.1 +orders\[0 1\]$`),
		regexp.MustCompile(`(?m)^orders +0 +7 +10 +3 +app-client-\S+$`),
		regexp.MustCompile(`(?m)^orders +1 +4 +10 +6 +app-client-\S+$`),
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("describe output has no match for %s:\n%s", re, describe.stdout)
		}
	}

	// Without a group named (or with Kafka's --all-groups), describe
	// describes every group: app and a group of offsets alone.
	commit := kadm.Offsets{}
	commit.AddOffset("orders", 0, 3, -1)
	commitCtx, cancelCommit := context.WithTimeout(context.Background(), commandTimeout)
	defer cancelCommit()
	if err := kadm.NewClient(member).CommitAllOffsets(commitCtx, "audit", commit); err != nil {
		t.Fatal(err)
	}
	groupNames := regexp.MustCompile(`(?m)^GROUP +(\S+)$`)
	for _, args := range [][]string{{"describe"}, {"describe", "--all-groups"}} {
		var described []string
		for _, m := range groupNames.FindAllStringSubmatch(mustRun(t, "", group(args...)...).stdout, -1) {
			described = append(described, m[1])
		}
		if want := []string{"app", "audit"}; !slices.Equal(described, want) {
			t.Errorf("group %s described %q, want %q", strings.Join(args, " "), described, want)
		}
	}
	mustFail(t, "", group("describe", "app", "--all-groups"), "--all-groups describes every group: name no group with it")

	// An active group's offsets are not reset.
	mustFail(t, "", group("reset-offsets", "app", "--topic", "orders", "--to-earliest"), "group app is active (Stable, 1 members)")
	mustFail(t, "", group("delete", "app"), "NON_EMPTY_GROUP: the group has members: stop its consumers first")
	member.Close()

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--to-earliest"}, "orders  0          7               0\norders  1          4               0\n"},
		{[]string{"--to-latest"}, "orders  0          7               10\norders  1          4               10\n"},
		{[]string{"--to-offset", "5"}, "orders  0          7               5\norders  1          4               5\n"},
		{[]string{"--to-offset", "50"}, "orders  0          7               10\norders  1          4               10\n"},
		{[]string{"--shift-by", "-5"}, "orders  0          7               2\norders  1          4               0\n"},
		{[]string{"--to-datetime", middle.UTC().Format(time.RFC3339Nano)}, "orders  0          7               5\norders  1          4               5\n"},
	} {
		args := append(group("reset-offsets", "app", "--topic", "orders", "--dry-run"), c.args...)
		inv := mustRun(t, "", args...)
		if want := "TOPIC   PARTITION  CURRENT-OFFSET  NEW-OFFSET\n" + c.want; inv.stdout != want {
			t.Errorf("reset-offsets %v printed\n%s\nwant\n%s", c.args, inv.stdout, want)
		}
		if !strings.Contains(inv.stderr, "dry run") {
			t.Errorf("reset-offsets --dry-run %v does not say so: %q", c.args, inv.stderr)
		}
	}
	mustFail(t, "", group("reset-offsets", "app", "--topic", "orders:1", "--shift-by", "3", "--execute", "--dry-run"), "contradict")
	// audit has committed an offset of partition 0 alone: as Kafka's
	// kafka-consumer-groups, --shift-by refuses a partition without one.
	mustFail(t, "", group("reset-offsets", "audit", "--topic", "orders", "--shift-by", "1", "--dry-run"),
		"cannot shift partition orders/1: the group has no committed offset there")
	mustRun(t, "", group("reset-offsets", "audit", "--topic", "orders:0", "--shift-by", "1", "--dry-run")...)
	mustRun(t, "", group("reset-offsets", "app", "--topic", "orders:1", "--shift-by", "3", "--execute")...)
	describe = mustRun(t, "", group("describe", "app")...)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^STATE +Empty$`),
		regexp.MustCompile(`(?m)^orders +0 +7 +10 +3 +-$`),
		regexp.MustCompile(`(?m)^orders +1 +7 +10 +3 +-$`),
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("after reset, describe has no match for %s:\n%s", re, describe.stdout)
		}
	}
	// A committed offset past the log end shows a negative lag, as in
	// Kafka's kafka-consumer-groups --describe.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	past := kadm.Offsets{}
	past.AddOffset("orders", 0, 12, -1)
	if resp, err := adm.CommitOffsets(ctx, "app", past); err != nil || resp.Error() != nil {
		t.Fatalf("commit past the log end: %v %v", err, resp.Error())
	}
	describe = mustRun(t, "", group("describe", "app")...)
	if re := regexp.MustCompile(`(?m)^orders +0 +12 +10 +-2 +-$`); !re.MatchString(describe.stdout) {
		t.Errorf("a commit past the log end: describe has no match for %s:\n%s", re, describe.stdout)
	}
	mustFail(t, "", group("reset-offsets", "app", "--topic", "orders"), "exactly one of")
	mustFail(t, "", group("reset-offsets", "app", "--topic", "nope", "--to-earliest"), "topic nope does not exist")

	if del := mustRun(t, "", group("delete", "app")...); del.stdout != "GROUP  STATUS\napp    OK\n" {
		t.Errorf("delete printed\n%s", del.stdout)
	}
	mustFail(t, "", group("describe", "app"), "GROUP_ID_NOT_FOUND")
	mustFail(t, "", group("delete", "app"), "GROUP_ID_NOT_FOUND: no such group (gregor group list shows the groups)")
}

// describe shows a KIP-848 consumer group through ConsumerGroupDescribe.
func TestGroupDescribeConsumerGroup(t *testing.T) {
	addr := startTestNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("events"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("e0")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	member, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("next"), kgo.ConsumeTopics("events"),
		kgo.ServerSideBalancer(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("next-client"))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	if fs := member.PollRecords(ctx, 1); len(fs.Records()) != 1 {
		t.Fatalf("member read %v (%v)", fs.Records(), fs.Err())
	}
	describe := mustRun(t, "", "group", "describe", "next", "-b", addr)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^TYPE +consumer$`),
		regexp.MustCompile(`(?m)^STATE +Stable$`),
		regexp.MustCompile(`(?m)^PROTOCOL +uniform$`),
		regexp.MustCompile(`(?m)^\S+ +- +next-client +/127\.0\.0\.1 +events\[0\]$`),
		regexp.MustCompile(`(?m)^events +0 +- +1 +- +\S+$`),
	} {
		if !re.MatchString(describe.stdout) {
			t.Errorf("describe output has no match for %s:\n%s", re, describe.stdout)
		}
	}
	list := mustRun(t, "", "group", "list", "--type", "consumer", "-b", addr)
	if want := "GROUP  TYPE      STATE   PROTOCOL-TYPE\nnext   consumer  Stable  consumer\n"; list.stdout != want {
		t.Errorf("list --type consumer printed\n%s\nwant\n%s", list.stdout, want)
	}
}

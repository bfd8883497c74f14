package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceEvents creates topic events with two partitions holding five
// records each: p0 has keys a0..a4 and values x0..x4, p1 b0..b4 and y0..y4.
func produceEvents(t *testing.T, addr string) {
	t.Helper()
	mustRun(t, "", "topic", "create", "events", "-p", "2", "-b", addr)
	for p, prefix := range []string{"a:x", "b:y"} {
		var input strings.Builder
		for i := range 5 {
			fmt.Fprintf(&input, "%c%d:%c%d\n", prefix[0], i, prefix[2], i)
		}
		mustRun(t, input.String(), "produce", "events", "-b", addr, "-q", "-k", ":", "-p", strconv.Itoa(p), "-H", "n=v")
	}
}

// sortedLines returns the output's lines sorted: partitions interleave.
func sortedLines(s string) []string {
	l := lines(s)
	slices.Sort(l)
	return l
}

func TestConsumeOffsets(t *testing.T) {
	addr := startTestNode(t)
	produceEvents(t, addr)
	const format = `%p/%o %k=%v\n`
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"default is the start", nil, []string{
			"0/0 a0=x0", "0/1 a1=x1", "0/2 a2=x2", "0/3 a3=x3", "0/4 a4=x4",
			"1/0 b0=y0", "1/1 b1=y1", "1/2 b2=y2", "1/3 b3=y3", "1/4 b4=y4"}},
		{"start", []string{"-o", "start"}, []string{
			"0/0 a0=x0", "0/1 a1=x1", "0/2 a2=x2", "0/3 a3=x3", "0/4 a4=x4",
			"1/0 b0=y0", "1/1 b1=y1", "1/2 b2=y2", "1/3 b3=y3", "1/4 b4=y4"}},
		{"an offset", []string{"-o", "3"}, []string{"0/3 a3=x3", "0/4 a4=x4", "1/3 b3=y3", "1/4 b4=y4"}},
		{"the last N", []string{"-o", "-2"}, []string{"0/3 a3=x3", "0/4 a4=x4", "1/3 b3=y3", "1/4 b4=y4"}},
		{"more than there are", []string{"-o", "-20", "-p", "1"}, []string{"1/0 b0=y0", "1/1 b1=y1", "1/2 b2=y2", "1/3 b3=y3", "1/4 b4=y4"}},
		{"past the end", []string{"-o", "50"}, nil},
		{"the end", []string{"-o", "end"}, nil},
		{"one partition", []string{"-p", "1", "-o", "4"}, []string{"1/4 b4=y4"}},
		{"a partition list", []string{"--partitions", "0,1", "-o", "-1"}, []string{"0/4 a4=x4", "1/4 b4=y4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := mustRun(t, "", append([]string{"consume", "events", "-b", addr, "-F", format}, tt.args...)...)
			if got := sortedLines(inv.stdout); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("consume %q printed %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestConsumeCount(t *testing.T) {
	addr := startTestNode(t)
	produceEvents(t, addr)
	inv := mustRun(t, "", "consume", "events", "-b", addr, "-p", "0", "-n", "3")
	if want := "x0\nx1\nx2\n"; inv.stdout != want {
		t.Errorf("-n 3 printed %q, want %q", inv.stdout, want)
	}
	inv = mustRun(t, "", "consume", "events", "-b", addr, "-n", "4", "-o", "3")
	if n := len(lines(inv.stdout)); n != 4 {
		t.Errorf("-n 4 -o 3 printed %d records, want all 4:\n%s", n, inv.stdout)
	}
	// -n beyond what there is stops at the end without --follow.
	inv = mustRun(t, "", "consume", "events", "-b", addr, "-n", "100")
	if n := len(lines(inv.stdout)); n != 10 {
		t.Errorf("-n 100 printed %d records, want the 10 there are:\n%s", n, inv.stdout)
	}
	mustFail(t, "", []string{"consume", "events", "-b", addr, "-n", "-1"}, "--num -1: want 0 (no limit) or more")
}

// jsonTimestamps consumes partition p of topic as JSON and returns each
// record's timestamp by value.
func jsonTimestamps(t *testing.T, addr, topic string, p int) map[string]int64 {
	t.Helper()
	inv := mustRun(t, "", "consume", topic, "-b", addr, "-p", strconv.Itoa(p), "-F", "json")
	stamps := map[string]int64{}
	for _, line := range lines(inv.stdout) {
		var r struct {
			Value     string `json:"value"`
			Timestamp int64  `json:"timestamp"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume -F json printed %q: %v", line, err)
		}
		stamps[r.Value] = r.Timestamp
	}
	return stamps
}

func TestConsumeFromTimestamp(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "timed", "-b", addr)
	mustRun(t, "early-1\nearly-2\n", "produce", "timed", "-b", addr, "-q")
	early := jsonTimestamps(t, addr, "timed", 0)
	// The next records must carry a later millisecond: wait for the clock
	// to pass the first ones' timestamps.
	deadline := time.After(time.Second)
	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	for time.Now().UnixMilli() <= max(early["early-1"], early["early-2"]) {
		select {
		case <-deadline:
			t.Fatalf("clock does not pass %d", early["early-2"])
		case <-ticker.C:
		}
	}
	mustRun(t, "late-1\nlate-2\n", "produce", "timed", "-b", addr, "-q")
	lateMs := jsonTimestamps(t, addr, "timed", 0)["late-1"]
	rfc3339 := time.UnixMilli(lateMs).UTC().Format(time.RFC3339Nano)
	for _, at := range []string{strconv.FormatInt(lateMs, 10), rfc3339} {
		inv := mustRun(t, "", "consume", "timed", "-b", addr, "-o", "@"+at)
		if want := "late-1\nlate-2\n"; inv.stdout != want {
			t.Errorf("-o @%s printed %q, want %q", at, inv.stdout, want)
		}
	}
	inv := mustRun(t, "", "consume", "timed", "-b", addr, "-o", "@0")
	if want := "early-1\nearly-2\nlate-1\nlate-2\n"; inv.stdout != want {
		t.Errorf("-o @0 printed %q, want %q", inv.stdout, want)
	}
	inv = mustRun(t, "", "consume", "timed", "-b", addr, "-o", "@"+strconv.FormatInt(lateMs+time.Hour.Milliseconds(), 10))
	if inv.stdout != "" {
		t.Errorf("-o @(an hour on) printed %q, want nothing", inv.stdout)
	}
	mustFail(t, "", []string{"consume", "timed", "-b", addr, "-o", "@yesterday"}, "want milliseconds since the epoch or RFC 3339")
}

func TestConsumeFormats(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "formats", "-b", addr)
	mustRun(t, "k1=v1\nplain\n", "produce", "formats", "-b", addr, "-q", "-k", "=", "-H", "h1=x", "-H", "h2=y")
	mustRun(t, "bin=\xff\xfe\n", "produce", "formats", "-b", addr, "-q", "-k", "=", "-H", "raw=\x80")
	ts := jsonTimestamps(t, addr, "formats", 0)["v1"]
	stamp := time.UnixMilli(ts).UTC().Format("2006-01-02T15:04:05.000Z07:00")

	inv := mustRun(t, "", "consume", "formats", "-b", addr)
	if want := "v1\nplain\n\xff\xfe\n"; inv.stdout != want {
		t.Errorf("the value format printed %q, want %q", inv.stdout, want)
	}
	inv = mustRun(t, "", "consume", "formats", "-b", addr, "-n", "1", "-F", `%t|%p|%o|%d|%T|%k|%v|%h|%%|\t|\\\n`)
	if want := fmt.Sprintf("formats|0|0|%d|%s|k1|v1|h1=x,h2=y|%%|\t|\\\n", ts, stamp); inv.stdout != want {
		t.Errorf("the template printed %q, want %q", inv.stdout, want)
	}

	inv = mustRun(t, "", "consume", "formats", "-b", addr, "-F", "json")
	got := lines(inv.stdout)
	if len(got) != 3 {
		t.Fatalf("-F json printed %d lines, want 3:\n%s", len(got), inv.stdout)
	}
	var objects []map[string]any
	for _, line := range got {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("-F json line %q is not JSON: %v", line, err)
		}
		for _, field := range []string{"topic", "partition", "offset", "timestamp", "key", "value", "headers"} {
			if _, ok := m[field]; !ok {
				t.Errorf("-F json line %q has no %q", line, field)
			}
		}
		objects = append(objects, m)
	}
	want := []map[string]any{
		{"topic": "formats", "partition": 0.0, "offset": 0.0, "timestamp": float64(ts), "key": "k1", "value": "v1",
			"headers": []any{map[string]any{"key": "h1", "value": "x"}, map[string]any{"key": "h2", "value": "y"}}},
		{"topic": "formats", "partition": 0.0, "offset": 1.0, "timestamp": objects[1]["timestamp"], "key": nil, "value": "plain",
			"headers": []any{map[string]any{"key": "h1", "value": "x"}, map[string]any{"key": "h2", "value": "y"}}},
		{"topic": "formats", "partition": 0.0, "offset": 2.0, "timestamp": objects[2]["timestamp"], "key": "bin", "value": nil,
			"value_base64": base64.StdEncoding.EncodeToString([]byte("\xff\xfe")),
			"headers":      []any{map[string]any{"key": "raw", "value": nil, "value_base64": base64.StdEncoding.EncodeToString([]byte("\x80"))}}},
	}
	if !reflect.DeepEqual(objects, want) {
		t.Errorf("-F json\n got %v\nwant %v", objects, want)
	}

	for _, bad := range []string{"%x", `\q`, "%"} {
		mustFail(t, "", []string{"consume", "formats", "-b", addr, "-F", bad}, "format")
	}
}

func TestConsumeFollow(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "live", "-b", addr)
	mustRun(t, "before\n", "produce", "live", "-b", addr, "-q")

	consume := startGregor(t, "consume", "live", "-b", addr, "-f")
	consume.waitForLines(t, &consume.stdout, 1)
	mustRun(t, "after-1\nafter-2\n", "produce", "live", "-b", addr, "-q")
	consume.waitForLines(t, &consume.stdout, 3)
	consume.cancel()
	if err := consume.wait(t); err != nil {
		t.Errorf("consume -f ended with %v, want nil when its context ends", err)
	}
	if want := "before\nafter-1\nafter-2\n"; consume.stdout.String() != want {
		t.Errorf("consume -f printed %q, want %q", consume.stdout.String(), want)
	}
}

func TestConsumeFollowStopsAfterCount(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "live", "-b", addr)
	mustRun(t, "before\n", "produce", "live", "-b", addr, "-q")

	consume := startGregor(t, "consume", "live", "-b", addr, "-f", "-n", "3", "-F", "json")
	consume.waitForLines(t, &consume.stdout, 1)
	mustRun(t, "after-1\nafter-2\nafter-3\n", "produce", "live", "-b", addr, "-q")
	// No cancel: -n 3 ends it.
	if err := consume.wait(t); err != nil {
		t.Fatalf("consume -f -n 3: %v", err)
	}
	var values []string
	for _, line := range lines(consume.stdout.String()) {
		var r struct{ Value string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		values = append(values, r.Value)
	}
	if want := []string{"before", "after-1", "after-2"}; !reflect.DeepEqual(values, want) {
		t.Errorf("consume -f -n 3 printed %q, want %q", values, want)
	}
}

func TestConsumeErrors(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "known", "-b", addr)
	mustFail(t, "", []string{"consume", "unknown", "-b", addr}, "topic unknown: UNKNOWN_TOPIC_OR_PARTITION", "gregor topic list shows the topics")
	mustFail(t, "", []string{"consume", "known", "-b", addr, "-p", "3"}, "topic known has no partition 3")
	mustFail(t, "", []string{"consume", "known", "-b", addr, "-o", "middle"}, `--offset "middle": want start, end, N, -N or @TIME`)
	mustFail(t, "", []string{"consume", "-b", addr}, "requires at least 1 arg")
	// An empty topic has nothing to print: consume ends at once.
	start := time.Now()
	inv := mustRun(t, "", "consume", "known", "-b", addr)
	if inv.stdout != "" || time.Since(start) > 3*time.Second {
		t.Errorf("consume of an empty topic printed %q after %s", inv.stdout, time.Since(start))
	}
}

// TestConsumeAfterDeleteRecords checks that offsets before the log start
// offset are clamped to it, and that describe shows it.
func TestConsumeAfterDeleteRecords(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "trimmed", "-b", addr)
	mustRun(t, "r0\nr1\nr2\nr3\nr4\n", "produce", "trimmed", "-b", addr, "-q")
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	offsets := kadm.Offsets{}
	offsets.AddOffset("trimmed", 0, 2, -1)
	deleted, err := kadm.NewClient(client).DeleteRecords(ctx, offsets)
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}

	for _, offset := range []string{"start", "0", "-10", "2"} {
		inv := mustRun(t, "", "consume", "trimmed", "-b", addr, "-o", offset)
		if want := "r2\nr3\nr4\n"; inv.stdout != want {
			t.Errorf("-o %s printed %q, want %q", offset, inv.stdout, want)
		}
	}
	describe := mustRun(t, "", "topic", "describe", "trimmed", "-b", addr)
	if !regexp.MustCompile(`(?m)^0 +1 +\d+ +\[1\] +\[1\] +\[\] +\[\] +\[\] +2 +5$`).MatchString(describe.stdout) {
		t.Errorf("describe should show log start offset 2 and high watermark 5:\n%s", describe.stdout)
	}
}

func TestConsumeSeveralTopics(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "a1\na2\n", "produce", "first", "-b", addr, "-q")
	mustRun(t, "b1\n", "produce", "second", "-b", addr, "-q")
	inv := mustRun(t, "", "consume", "first", "second", "-b", addr, "-F", `%t %v\n`)
	if got, want := sortedLines(inv.stdout), []string{"first a1", "first a2", "second b1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("consume of two topics printed %q, want %q", got, want)
	}
	mustFail(t, "", []string{"consume", "first", "missing", "-b", addr}, "UNKNOWN_TOPIC_OR_PARTITION")
}

// TestConsumeInAGroup: consume --group reads as a member of the group, as
// Kafka's console consumer --group does: from the group's committed
// offsets, committing those of the records it printed (with --num, no
// more), so that the next member goes on where it stopped.
func TestConsumeInAGroup(t *testing.T) {
	addr := startTestNode(t)
	produceEvents(t, addr)
	const format = `%p/%o %k=%v\n`
	consume := func(args ...string) []string {
		t.Helper()
		base := []string{"consume", "events", "--group", "printers", "-F", format, "--idle-timeout", "1s", "-b", addr}
		return sortedLines(mustRun(t, "", append(base, args...)...).stdout)
	}
	first := consume("-n", "3", "--idle-timeout", "30s")
	if len(first) != 3 {
		t.Fatalf("consume --group -n 3 printed %q", first)
	}
	committed := func() int64 {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, "printers")
		if err != nil {
			t.Fatalf("fetch the group's offsets: %v", err)
		}
		var sum int64
		offsets.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum
	}
	if got := committed(); got != 3 {
		t.Errorf("after printing 3 records the group committed offsets summing to %d, want 3", got)
	}
	// The other 7, by count: an idle timeout could end a member on a
	// loaded machine before a partition's first fetch came back.
	rest := consume("-n", "7", "--idle-timeout", "30s")
	all := append(slices.Clone(first), rest...)
	slices.Sort(all)
	want := []string{
		"0/0 a0=x0", "0/1 a1=x1", "0/2 a2=x2", "0/3 a3=x3", "0/4 a4=x4",
		"1/0 b0=y0", "1/1 b1=y1", "1/2 b2=y2", "1/3 b3=y3", "1/4 b4=y4"}
	if !slices.Equal(all, want) {
		t.Errorf("the two members printed %q and %q, want every record once: %q", first, rest, want)
	}
	if got := committed(); got != 10 {
		t.Errorf("after every record the group committed offsets summing to %d, want 10", got)
	}
	if again := consume(); len(again) != 0 {
		t.Errorf("a third member printed %q, want nothing: the group committed every record", again)
	}

	// A member that follows stays in the group, named by its client id.
	startGregor(t, "consume", "events", "--group", "watchers", "-f", "-b", addr)
	member := regexp.MustCompile(`(?m)^\S+ +- +gregor-consume +/127\.0\.0\.1 +events\[0 1\]$`)
	deadline := time.Now().Add(commandTimeout)
	for {
		out := runGregor(t, "", "group", "describe", "watchers", "-b", addr).stdout // GROUP_ID_NOT_FOUND until it joins
		if member.MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group watchers shows no member gregor-consume holding events[0 1] after %s:\n%s", commandTimeout, out)
		}
	}

	b := []string{"-b", addr}
	mustFail(t, "", append([]string{"consume", "events", "--group", "g", "-o", "3"}, b...), "--offset 3 with --group: want start or end")
	mustFail(t, "", append([]string{"consume", "events", "--group", "g", "-p", "0"}, b...), "--partitions with --group")
	mustFail(t, "", append([]string{"consume", "nope", "--group", "g"}, b...), "topic nope", "gregor topic list")
}

// TestConsumeInAGroupCommitsEveryAssignedPartition: consume --group commits
// the position of every partition it was assigned when it ends, as Kafka's
// console consumer (its consumer commits every assigned partition's position
// on close): a partition it printed nothing from is committed where the
// member started it, so a group that began at the end (-o end) goes on from
// there and reads records produced after it, and no partition shows an
// unknown lag.
func TestConsumeInAGroupCommitsEveryAssignedPartition(t *testing.T) {
	addr := startTestNode(t)
	mustRun(t, "", "topic", "create", "sparse", "-p", "3", "-b", addr)
	mustRun(t, "k0:v0\nk1:v1\nk2:v2\nk3:v3\n", "produce", "sparse", "-b", addr, "-q", "-k", ":", "-p", "1")
	committed := func(group string) map[int32]int64 {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetch the offsets of group %s: %v", group, err)
		}
		got := map[int32]int64{}
		offsets.Each(func(o kadm.OffsetResponse) { got[o.Partition] = o.At })
		return got
	}
	const format = `%p/%o %k=%v\n`
	if out := sortedLines(mustRun(t, "", "consume", "sparse", "--group", "all", "-n", "4", "--idle-timeout", "30s", "-F", format, "-b", addr).stdout); len(out) != 4 {
		t.Fatalf("consume --group all -n 4 printed %q", out)
	}
	if got, want := committed("all"), map[int32]int64{0: 0, 1: 4, 2: 0}; !maps.Equal(got, want) {
		t.Errorf("group all committed %v, want %v (every assigned partition)", got, want)
	}
	// Nothing to print: the member started every partition at its end.
	if out := mustRun(t, "", "consume", "sparse", "--group", "tail", "-o", "end", "--idle-timeout", "2s", "-b", addr).stdout; out != "" {
		t.Fatalf("consume --group tail -o end printed %q", out)
	}
	if got, want := committed("tail"), map[int32]int64{0: 0, 1: 4, 2: 0}; !maps.Equal(got, want) {
		t.Errorf("group tail committed %v, want %v (every assigned partition at its end)", got, want)
	}
	// Records produced since: the group reads them, from where it stopped.
	mustRun(t, "n0:w0\nn1:w1\n", "produce", "sparse", "-b", addr, "-q", "-k", ":", "-p", "2")
	out := sortedLines(mustRun(t, "", "consume", "sparse", "--group", "tail", "-o", "end", "-n", "2", "--idle-timeout", "30s", "-F", format, "-b", addr).stdout)
	if want := []string{"2/0 n0=w0", "2/1 n1=w1"}; !slices.Equal(out, want) {
		t.Errorf("group tail then printed %q, want %q", out, want)
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startGroupBroker runs gregor with groups that rebalance at once and a
// small __consumer_offsets, for tests.
func startGroupBroker(t *testing.T) *broker {
	t.Helper()
	return startBroker(t, "group.initial.rebalance.delay.ms=0", "offsets.topic.num.partitions=5")
}

// produceValues writes values to topic (created with partitions).
func (b *broker) produceValues(t *testing.T, topic string, partitions int32, values []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := b.admin(t).CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Uncompressed: kafka-python has no snappy here.
	cl := b.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for _, v := range values {
		cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func valuesN(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

// committedTotal sums a group's committed offsets of topic.
func (b *broker) committedTotal(t *testing.T, group, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fetched, err := b.admin(t).FetchOffsetsForTopics(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	fetched.Each(func(o kadm.OffsetResponse) {
		if o.At > 0 {
			total += o.At
		}
	})
	return total
}

// saramaHandler counts the messages of a sarama group session and marks
// them for commit.
type saramaHandler struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.seen[string(m.Value)] = true
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func (h *saramaHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

// Two sarama group members share a topic, read all of it and commit it.
func TestSaramaConsumerGroup(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "sarama-group", 4, valuesN("s", 200))
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := &saramaHandler{seen: map[string]bool{}}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		g, err := sarama.NewConsumerGroup([]string{b.addr}, "sarama-g", cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer g.Close()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{"sarama-group"}, h); err != nil && ctx.Err() == nil {
					t.Logf("sarama consume: %v", err)
				}
			}
		}()
	}
	for h.count() < 200 {
		select {
		case <-ctx.Done():
			t.Fatalf("sarama group read %d of 200", h.count())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for b.committedTotal(t, "sarama-g", "sarama-group") < 200 {
		select {
		case <-ctx.Done():
			t.Fatalf("sarama group committed %d of 200", b.committedTotal(t, "sarama-g", "sarama-group"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
}

// A kafka-go group reader reads and commits; a second one resumes after
// what the first committed.
func TestKafkaGoConsumerGroup(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "kgo-group", 3, valuesN("k", 60))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	read := func(n int) []string {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.addr}, GroupID: "kafka-go-g", Topic: "kgo-group",
			MaxWait: 200 * time.Millisecond, StartOffset: kafka.FirstOffset, HeartbeatInterval: 200 * time.Millisecond})
		defer r.Close()
		var out []string
		for len(out) < n {
			m, err := r.ReadMessage(ctx) // commits each message before returning it
			if err != nil {
				t.Fatalf("kafka-go read %d of %d: %v", len(out), n, err)
			}
			out = append(out, string(m.Value))
		}
		return out
	}
	first := read(25)
	rest := read(35)
	seen := map[string]bool{}
	for _, v := range append(first, rest...) {
		if seen[v] {
			t.Fatalf("kafka-go read %s twice: the second reader did not resume from the commit", v)
		}
		seen[v] = true
	}
	if got := b.committedTotal(t, "kafka-go-g", "kgo-group"); got != 60 {
		t.Fatalf("committed %d of 60", got)
	}
}

// kafka-python and confluent-kafka group consumers commit and a second
// consumer resumes from the committed offsets.
func TestPythonConsumerGroups(t *testing.T) {
	b := startGroupBroker(t)
	for _, script := range []string{"group_kafka_python.py", "group_confluent.py"} {
		topic := strings.TrimSuffix(script, ".py")
		b.produceValues(t, topic, 3, valuesN("p", 40))
		cmd := exec.Command("/usr/bin/python3", "testdata/"+script, b.addr, topic, topic+"-g", "40", "15")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "ok") {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		if got := b.committedTotal(t, topic+"-g", topic); got != 40 {
			t.Fatalf("%s: committed %d of 40", script, got)
		}
	}
}

// TestConfluentCooperativeStickyGroup: three librdkafka consumers with the
// cooperative-sticky assignor join one group one by one and one leaves
// (testdata/coop_confluent.py): each rebalance revokes only the partitions
// that move, no partition has two owners, shares stay even, and every
// record is read and committed.
func TestConfluentCooperativeStickyGroup(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "coop", 6, valuesN("c", 300))
	// The script bounds each of its waits (60 s); this bounds it whole, so
	// that a hang fails here with its output, not at the package's timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/coop_confluent.py", b.addr, "coop", "coop-g", "6", "300").CombinedOutput()
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("coop_confluent.py: %v\n%s", err, out)
	}
	t.Logf("coop_confluent.py: %s", strings.TrimSpace(string(out)))
	if got := b.committedTotal(t, "coop-g", "coop"); got != 300 {
		t.Fatalf("committed %d of 300", got)
	}
}

// kcat -G consumes as a group member and commits; a second run reads only
// what came after.
func TestKcatGroup(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "kcat-group", 2, valuesN("c", 10))
	run := func() []string {
		out, err := exec.Command("kcat", "-b", b.addr, "-G", "kcat-g", "-X", "auto.offset.reset=earliest",
			"-e", "-q", "-f", "%s\n", "kcat-group").Output()
		if err != nil {
			t.Fatalf("kcat -G: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	if got := run(); len(got) != 10 {
		t.Fatalf("kcat -G read %v, want 10 records", got)
	}
	cl := b.client(t, kgo.DefaultProduceTopic("kcat-group"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range valuesN("d", 5) {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := run()
	if len(got) != 5 || !strings.HasPrefix(got[0], "d") {
		t.Fatalf("second kcat -G read %v, want the 5 new records", got)
	}
}

// A confluent-kafka consumer commits an offset of a topic that does not
// exist for a group that does not exist: the commit is refused
// (UNKNOWN_TOPIC_OR_PARTITION) and makes no group, as on Kafka, whose
// brokers answer it before their group coordinator. gregor used to list
// an empty group with no protocol for it.
func TestPythonCommitToUnknownTopicMakesNoGroup(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import confluent_kafka").Run(); err != nil {
		t.Skip("python3 with confluent_kafka is not installed")
	}
	b := startBroker(t, "auto.create.topics.enable=false")
	out, err := exec.Command("/usr/bin/python3", "testdata/commit_unknown_topic_confluent.py", b.addr, "ghost", "no-such-topic").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok UNKNOWN_TOPIC_OR_PART" {
		t.Fatalf("commit_unknown_topic_confluent.py: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listed, err := b.admin(t).ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if groups := listed.Groups(); len(groups) != 0 {
		t.Fatalf("groups listed after the refused commit: %v, want none", groups)
	}
}

// franz-go's kadm deletes a group's offsets naming a partition and a topic
// that do not exist: each gets UNKNOWN_TOPIC_OR_PARTITION, as Kafka's
// brokers answer (gregor answered no error, as if they were deleted). A
// LeaveGroup v5 with an empty group id gets INVALID_GROUP_ID on the
// response and names no member, as from Kafka (gregor put it on each
// member).
func TestKadmOffsetDeleteUnknownAndLeaveEmptyGroup(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "od", 2, valuesN("v", 4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	commit := kadm.Offsets{}
	commit.AddOffset("od", 0, 1, -1)
	commit.AddOffset("od", 1, 1, -1)
	if err := adm.CommitAllOffsets(ctx, "odg", commit); err != nil {
		t.Fatal(err)
	}
	deleted, err := adm.DeleteOffsets(ctx, "odg", kadm.TopicsSet{"od": {0: {}, 7: {}}, "ghost": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[int32]string{"od": {0: "<nil>", 7: "UNKNOWN_TOPIC_OR_PARTITION"}, "ghost": {0: "UNKNOWN_TOPIC_OR_PARTITION"}}
	for topic, ps := range want {
		for p, w := range ps {
			got := fmt.Sprint(deleted[topic][p])
			if !strings.HasPrefix(got, w) {
				t.Errorf("DeleteOffsets %s/%d: %s, want %s", topic, p, got, w)
			}
		}
	}
	fetched, err := adm.FetchOffsets(ctx, "odg")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fetched.Lookup("od", 0); ok {
		t.Errorf("od/0's offset kept after its deletion")
	}
	if o, ok := fetched.Lookup("od", 1); !ok || o.At != 1 {
		t.Errorf("od/1's offset: %+v, want 1", o)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	member := kmsg.NewLeaveGroupRequestMember()
	member.MemberID = "m1"
	leave.Members = append(leave.Members, member)
	resp, err := leave.RequestWith(ctx, b.client(t))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.InvalidGroupID.Code || len(resp.Members) != 0 {
		t.Errorf("LeaveGroup v5 of group \"\": error %d, members %+v; want INVALID_GROUP_ID (%d) and no member", resp.ErrorCode, resp.Members, kerr.InvalidGroupID.Code)
	}
}

// The group id "" is a group like any other for the offset APIs,
// DescribeGroups and DeleteGroups, as Kafka's coordinator keeps it for old
// clients that commit offsets without a group: kadm deletes it (no such
// group at first, then the offsets committed to it), and gregor group
// describe and delete name it "".
func TestEmptyGroupIDIsAGroupForOffsetsAndDeletion(t *testing.T) {
	b := startGroupBroker(t)
	b.produceValues(t, "eg", 1, valuesN("v", 3))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.admin(t)
	deleted, err := adm.DeleteGroups(ctx, "")
	if err != nil || !errors.Is(deleted[""].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups of \"\" before any commit: %v %+v, want GROUP_ID_NOT_FOUND", err, deleted)
	}
	commit := kadm.Offsets{}
	commit.AddOffset("eg", 0, 2, -1)
	if err := adm.CommitAllOffsets(ctx, "", commit); err != nil {
		t.Fatalf("commit offsets of group \"\": %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "")
	if o, ok := fetched.Lookup("eg", 0); err != nil || !ok || o.At != 2 {
		t.Fatalf("fetch offsets of group \"\": %v %+v, want eg/0 at 2", err, fetched)
	}
	out, err := gregor(t, "group", "describe", "", "-b", b.addr)
	if err != nil || !regexp.MustCompile(`(?m)^GROUP +""$`).MatchString(out) || !regexp.MustCompile(`(?m)^STATE +Empty$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^eg +0 +2 +3 +1 `).MatchString(out) {
		t.Fatalf("gregor group describe \"\": %v\n%s", err, out)
	}
	out, err = gregor(t, "group", "delete", "", "-b", b.addr)
	if err != nil || !regexp.MustCompile(`(?m)^"" +OK$`).MatchString(out) {
		t.Fatalf("gregor group delete \"\": %v\n%s", err, out)
	}
	fetched, err = adm.FetchOffsets(ctx, "")
	if _, ok := fetched.Lookup("eg", 0); err != nil || ok {
		t.Errorf("offsets of group \"\" after its deletion: %v %+v, want none", err, fetched)
	}
	if _, err := gregor(t, "group", "delete", "", "-b", b.addr); err == nil {
		t.Error("gregor group delete \"\" of a deleted group succeeded, want GROUP_ID_NOT_FOUND")
	}
}

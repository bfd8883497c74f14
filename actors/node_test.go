package actors

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap/zaptest"
)

// startTestNode starts a node on a free loopback port over a temporary
// directory, stopped at the end of the test.
func startTestNode(t *testing.T, dir string, edit func(*Config)) *Node {
	t.Helper()
	cfg := testNodeConfig(dir)
	if edit != nil {
		edit(&cfg)
	}
	n, err := Start(context.Background(), cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return n
}

// testNodeConfig is a single node's configuration on a free loopback port.
func testNodeConfig(dir string) Config {
	return Config{
		NodeID: 1, ListenAddress: "127.0.0.1:0", DataDir: dir,
		AutoCreateTopics: true, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		CacheBytes: 16 << 20, StaticBrokerConfigs: map[string]string{}, testHooks: testHooks{poisonReleasedBuffers: true},
	}
}

func newClient(t *testing.T, n *Node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(n.Addr().String()), kgo.DisableIdempotentWrite()}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, n, kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const perPartition = 200
	for i := 0; i < 3*perPartition; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i)), Partition: int32(i % 3)}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	consumer := newClient(t, n, kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[int32][]string{}
	total := 0
	for total < 3*perPartition {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", total, 3*perPartition, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			if want := int64(len(got[r.Partition]) - 1); r.Offset != want {
				t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, want)
			}
			total++
		})
	}
	for p := int32(0); p < 3; p++ {
		for i, v := range got[p] {
			if want := fmt.Sprintf("v%d", i*3+int(p)); v != want {
				t.Fatalf("partition %d offset %d: %q, want %q", p, i, v, want)
			}
		}
	}
}

func TestCreateTopicErrors(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "a.b"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"a.b", 1, 1, nil, kerr.TopicAlreadyExists},
		{"a_b", 1, 1, nil, kerr.InvalidTopicException},
		{"bad name", 1, 1, nil, kerr.InvalidTopicException},
		{"zero", 0, 1, nil, kerr.InvalidPartitions},
		{"rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"cfg", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"cfg2", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
	} {
		resp, err := adm.CreateTopic(ctx, c.partitions, c.rf, c.configs, c.name)
		if err == nil {
			err = resp.Err
		}
		if err != c.want {
			t.Errorf("create %q: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestTopicsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := startTestNode(t, dir, nil)
	cl := newClient(t, n, kgo.DefaultProduceTopic("kept"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	details, err := kadm.NewClient(cl).ListTopics(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	id := details["kept"].ID
	cl.Close()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	cl2 := newClient(t, n2, kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	details2, err := kadm.NewClient(cl2).ListTopics(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if details2["kept"].ID != id {
		t.Fatalf("topic id changed across restart: %v then %v", id, details2["kept"].ID)
	}
	var vals []string
	for len(vals) < 10 {
		fs := cl2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 10", len(vals))
		}
		fs.EachRecord(func(r *kgo.Record) { vals = append(vals, string(r.Value)) })
	}
	for i, v := range vals {
		if v != fmt.Sprint(i) {
			t.Fatalf("record %d = %q", i, v)
		}
	}
}

func TestInvalidStaticTopicDefaultRefused(t *testing.T) {
	cfg := Config{NodeID: 1, ListenAddress: "127.0.0.1:0", DataDir: t.TempDir(),
		StaticBrokerConfigs: map[string]string{"log.retention.ms": "soon"}}
	n, err := Start(context.Background(), cfg, zaptest.NewLogger(t))
	if err == nil {
		n.Stop(context.Background())
		t.Fatal("a node started with log.retention.ms=soon")
	}
	if !strings.Contains(err.Error(), "log.retention.ms") {
		t.Fatalf("error %q does not name the key", err)
	}
}

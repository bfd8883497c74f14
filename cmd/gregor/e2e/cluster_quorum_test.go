package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceAcked writes n records with acks=all to each partition of topic
// and returns the acknowledged values by partition and offset.
func (c *localCluster) produceAcked(t *testing.T, topic string, partitions int32, n int) map[int32]map[int64]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))})
		}
	}
	acked := map[int32]map[int64]string{}
	for _, r := range cl.ProduceSync(ctx, recs...) {
		if r.Err != nil {
			t.Fatalf("produce: %v", r.Err)
		}
		if acked[r.Record.Partition] == nil {
			acked[r.Record.Partition] = map[int64]string{}
		}
		acked[r.Record.Partition][r.Record.Offset] = string(r.Record.Value)
	}
	return acked
}

// createTopics creates topics with RF=3 and min.insync.replicas=2 and
// waits until node 1 sees every replica in the ISR.
func (c *localCluster) createTopics(t *testing.T, partitions int32, topics ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resps, err := c.admin(t).CreateTopics(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topics...)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	c.waitFullISR(t, 1, 60*time.Second, topics...)
}

// killAll kills every node with SIGKILL and waits until their client
// ports are free.
func (c *localCluster) killAll(t *testing.T, nodes ...int) {
	t.Helper()
	for _, i := range nodes {
		if err := syscall.Kill(c.pid(i), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range nodes {
		waitFor(t, 20*time.Second, fmt.Sprintf("node %d gone", i), func() bool {
			conn, err := net.DialTimeout("tcp", c.addr(i), 100*time.Millisecond)
			if err == nil {
				conn.Close()
				return false
			}
			return true
		})
	}
}

// requestSeconds reads node i's gregor_request_duration_seconds of api:
// the seconds its requests took in all, and how many it answered.
func (c *localCluster) requestSeconds(t *testing.T, i int, api string) (sum, count float64) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(c.basePort+300+i-1) + "/metrics")
	if err != nil {
		t.Fatalf("node %d /metrics: %v", i, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("node %d /metrics: %v", i, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		labels := `{api="` + api + `"} `
		if v, ok := strings.CutPrefix(line, "gregor_request_duration_seconds_sum"+labels); ok {
			fmt.Sscan(v, &sum)
		}
		if v, ok := strings.CutPrefix(line, "gregor_request_duration_seconds_count"+labels); ok {
			fmt.Sscan(v, &count)
		}
	}
	return sum, count
}

// consumeAcked reads topic through node i until every acknowledged record
// was read at its offset, with the value acknowledged there.
func (c *localCluster) consumeAcked(t *testing.T, i int, topic string, acked map[int32]map[int64]string) {
	t.Helper()
	want := 0
	for _, m := range acked {
		want += len(m)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(i)), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := 0
	for seen < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d acknowledged records through node %d", seen, want, i)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v, ok := acked[r.Partition][r.Offset]; ok {
				if v != string(r.Value) {
					t.Fatalf("partition %d offset %d holds %q; %q was acknowledged there", r.Partition, r.Offset, r.Value, v)
				}
				seen++
			}
		})
	}
}

// All three processes of a cluster killed with SIGKILL at once and started
// again: every acks=all record acknowledged before is read after, at its
// offset, and the cluster takes new topics.
func TestWholeClusterRestartKeepsAcknowledged(t *testing.T) {
	c := clusterUp(t, 3)
	const topic, partitions = "whole", int32(3)
	c.createTopics(t, partitions, topic)
	acked := c.produceAcked(t, topic, partitions, 50)
	c.killAll(t, 1, 2, 3)
	for i := 1; i <= 3; i++ {
		c.restart(i)
	}
	waitFor(t, 60*time.Second, "the restarted cluster's leaders", func() bool {
		ps, _, ok := c.partitionState(2, topic)
		if !ok {
			return false
		}
		for _, p := range ps {
			if p.Leader < 1 || p.ErrorCode != 0 {
				return false
			}
		}
		return true
	})
	c.consumeAcked(t, 3, topic, acked)
	if out, err := gregor(t, "topic", "create", "-b", c.addr(1), "after-restart", "-p", "2", "-r", "3"); err != nil {
		t.Fatalf("topic create after the restart: %v\n%s", err, out)
	}
}

// With two of three voters down the metadata quorum has no majority: a
// CreateTopics through the survivor is refused within its timeout
// (REQUEST_TIMED_OUT, or NOT_CONTROLLER) and creates nothing, while the
// survivor goes on serving reads of the partition it leads.
func TestTwoVotersDownRefuseMetadataButServeReads(t *testing.T) {
	c := clusterUp(t, 3)
	const topic, partitions = "survive", int32(3)
	c.createTopics(t, partitions, topic)
	acked := c.produceAcked(t, topic, partitions, 20)
	ps, _, _ := c.partitionState(1, topic)
	survivor, led := int(ps[0].Leader), ps[0].Partition
	var down []int
	for i := 1; i <= 3; i++ {
		if i != survivor {
			down = append(down, i)
		}
	}
	c.killAll(t, down...)
	t.Cleanup(func() {
		for _, i := range down {
			c.restart(i)
		}
	})

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(survivor)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "no-quorum", 1, 1
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 3000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The broker's own time for the request (gregor_request_duration_seconds,
	// from the request read to its answer written) is what its timeout
	// bounds; the client's adds the connection's setup and, on a loaded
	// machine, the client's and the kernel's scheduling (the client saw
	// 3.18 s where the broker took 3.004 s, at load 10), which took most of
	// the second the bound leaves.
	broker := cl.SeedBrokers()[0]
	if _, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, broker); err != nil {
		t.Fatalf("ApiVersions of node %d: %v", survivor, err)
	}
	sum0, count0 := c.requestSeconds(t, survivor, "CreateTopics")
	started := time.Now()
	resp, err := req.RequestWith(ctx, broker)
	took := time.Since(started)
	if err != nil {
		t.Fatalf("CreateTopics through node %d: no answer after %v: %v", survivor, took, err)
	}
	sum1, count1 := c.requestSeconds(t, survivor, "CreateTopics")
	if count1 != count0+1 {
		t.Fatalf("node %d counts %v CreateTopics answered, want %v", survivor, count1, count0+1)
	}
	answered := time.Duration((sum1 - sum0) * float64(time.Second))
	code := resp.Topics[0].ErrorCode
	if code != kerr.RequestTimedOut.Code && code != kerr.NotController.Code {
		t.Fatalf("CreateTopics through node %d with two of three voters down: %v, want REQUEST_TIMED_OUT or NOT_CONTROLLER", survivor, kerr.ErrorForCode(code))
	}
	if answered > 4*time.Second {
		t.Fatalf("node %d answered CreateTopics after %v, past its 3 s timeout", survivor, answered)
	}
	t.Logf("CreateTopics through node %d refused after %v (the client had the answer after %v): %v", survivor, answered, took, kerr.ErrorForCode(code))

	if md, err := c.metadata(survivor, "no-quorum"); err != nil || md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("no-quorum after the refusal: %v %+v", err, md)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.addr(survivor)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {led: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer fcancel()
	read := 0
	for read < len(acked[led]) {
		fs := cons.PollFetches(fctx)
		if fctx.Err() != nil {
			t.Fatalf("read %d of %d records of partition %d from its leader, node %d", read, len(acked[led]), led, survivor)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if acked[led][r.Offset] != string(r.Value) {
				t.Fatalf("offset %d holds %q, want %q", r.Offset, r.Value, acked[led][r.Offset])
			}
			read++
		})
	}
}

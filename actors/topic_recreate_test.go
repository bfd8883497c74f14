package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic deleted while a broker holding one of its replicas is down can be
// created again with the same name at once, as on Kafka, even with that
// broker in its replicas: the broker, started again, retires its copy of
// the old topic while it catches up with the metadata log and replicates
// the new one; no record of the old topic is read from the new one, from
// any replica.
func TestTopicRecreatedWhileAReplicaIsDown(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.createAssigned(0, "again", []int32{3, 1, 2}, "1")
	cl := newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(cl *kgo.Client, prefix string) { producePrefixed(ctx, t, cl, "again", prefix, 5) }
	produce(cl, "old")
	c.waitReplicasIdentical(0, "again", 1)

	c.stop(2, false)
	waitFor(t, 30*time.Second, "broker 3 to be fenced", func() bool {
		b, ok := c.node(0).routes.load().image.Broker(3)
		return ok && b.Fenced
	})
	if resp, err := c.admin(0).DeleteTopics(ctx, "again"); err != nil || resp["again"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	create := func() int16 { return createAssignedRaw(ctx, t, cl, "again", []int32{3, 1, 2}) }
	// The running brokers apply the deletion within a heartbeat or two;
	// broker 3 stays down throughout.
	waitFor(t, 10*time.Second, "the name to be free with broker 3 down", func() bool { return create() == 0 })
	c.waitForTopic("again", 1)
	// A client that knew the old topic's id is answered UNKNOWN_TOPIC_ID
	// for it; a new one produces to the new topic.
	produce(newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner())), "new")

	if err := c.tryStart(2); err != nil {
		t.Fatal(err)
	}
	c.waitReplicasIdentical(0, "again", 1)
	// Broker 3 leads again (it is the preferred replica) and serves the
	// new topic's records only.
	el := kmsg.NewPtrElectLeadersRequest()
	et := kmsg.NewElectLeadersRequestTopic()
	et.Topic, et.Partitions = "again", []int32{0}
	el.Topics, el.TimeoutMillis = append(el.Topics, et), 10_000
	waitFor(t, 30*time.Second, "broker 3 to lead again", func() bool {
		if _, err := el.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		tp, ok := c.node(0).routes.load().image.Topic("again")
		return ok && tp.Partitions[0].Leader == 3
	})
	readOnly(ctx, t, newClient(t, c.node(2), kgo.ConsumeTopics("again"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
		"0:new-0", "1:new-1", "2:new-2", "3:new-3", "4:new-4")
}

// A topic deleted and created again at once, with every broker up, takes
// the name on the first try, as on Kafka; each broker starts its replica of
// the new topic only once the old one's data is gone, so every replica
// holds only the new records.
func TestTopicRecreatedAtOnce(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	c.createAssigned(0, "again", []int32{1, 2, 3}, "1")
	cl := newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	producePrefixed(ctx, t, cl, "again", "old", 300)
	c.waitReplicasIdentical(0, "again", 1)

	if resp, err := c.admin(0).DeleteTopics(ctx, "again"); err != nil || resp["again"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	if code := createAssignedRaw(ctx, t, cl, "again", []int32{2, 3, 1}); code != 0 {
		t.Fatalf("create right after delete: %v", kerr.ErrorForCode(code))
	}
	c.waitForTopic("again", 1)
	producePrefixed(ctx, t, newClient(t, c.node(0), kgo.RecordPartitioner(kgo.ManualPartitioner())), "again", "new", 3)
	c.waitReplicasIdentical(0, "again", 1)
	for i := range 3 {
		readOnly(ctx, t, newClient(t, c.node(i), kgo.ConsumeTopics("again"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())),
			"0:new-0", "1:new-1", "2:new-2")
	}
}

// producePrefixed produces prefix-0 ... prefix-(n-1) to partition 0 of
// topic, one at a time.
func producePrefixed(ctx context.Context, t *testing.T, cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr(); err != nil {
			t.Fatalf("produce %s-%d: %v", prefix, i, err)
		}
	}
}

// createAssignedRaw creates topic with one partition on replicas and
// returns the error code answered.
func createAssignedRaw(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, replicas []int32) int16 {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Replicas = replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].ErrorCode
}

// readOnly reads rd until it has as many records as want ("offset:value")
// and fails unless they are exactly want.
func readOnly(ctx context.Context, t *testing.T, rd *kgo.Client, want ...string) {
	t.Helper()
	var got []string
	for len(got) < len(want) {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v, then %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the new topic reads %v, want %v", got, want)
	}
}

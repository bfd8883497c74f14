package actors

import (
	"fmt"
	"testing"
	"time"

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
	produce := func(cl *kgo.Client, prefix string) {
		t.Helper()
		for i := range 5 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "again", Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr(); err != nil {
				t.Fatalf("produce %s-%d: %v", prefix, i, err)
			}
		}
	}
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
	create := func() int16 {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "again", -1, -1
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Replicas = []int32{3, 1, 2}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode
	}
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
	rd := newClient(t, c.node(2), kgo.ConsumeTopics("again"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 5 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v, then %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	want := []string{"0:new-0", "1:new-1", "2:new-2", "3:new-3", "4:new-4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the new topic reads %v, want %v", got, want)
	}
}

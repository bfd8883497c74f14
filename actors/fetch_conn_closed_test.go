package actors

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestParkedFetchDroppedWhenConnectionCloses: a Fetch parked for a minute
// is dropped as soon as its connection closes (a follower's fetcher
// giving it up closes it), not at its deadline.
func TestParkedFetchDroppedWhenConnectionCloses(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "quiet"); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 12, -1, 60_000, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "quiet"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("parked")).AppendRequest(nil, req, 1)
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the fetch to park", func() bool { return testutil.ToFloat64(n.metrics.fetchesWaiting) == 1 })
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the parked fetch to be dropped", func() bool {
		return testutil.ToFloat64(n.metrics.fetchesWaiting) == 0 && testutil.ToFloat64(n.metrics.fetchesDropped) == 1
	})
}

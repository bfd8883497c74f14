package actors

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestUnopenablePartitionGoesOffline(t *testing.T) {
	dir := t.TempDir()
	// A file where the partition directory should be: the log cannot open.
	if err := os.WriteFile(filepath.Join(dir, "broken-0"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "broken"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "partition 0 to go offline", func() bool {
		md, err := adm.Metadata(ctx, "broken")
		if err != nil {
			t.Fatal(err)
		}
		p := md.Topics["broken"].Partitions
		return p[0].Leader == -1 && p[1].Leader == 1
	})
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "broken", Partition: 1, Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("the healthy partition refuses records: %v", err)
	}
}

func TestRequestToStoppedPartitionIsAnswered(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "stopped"); err != nil {
		t.Fatal(err)
	}
	pid := n.routes.load().partition("stopped", 0)
	if err := n.system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	got := make(chan int16, 1)
	n.system.Root.Send(pid, &producePartition{records: []byte("x"), acks: 1, reply: func(res producePartitionResult) { got <- res.errorCode }})
	select {
	case code := <-got:
		if code != kerr.NotLeaderForPartition.Code {
			t.Fatalf("error code %d", code)
		}
	case <-ctx.Done():
		t.Fatal("a produce to a stopped partition actor was never answered")
	}
}

// A deleted topic whose partition is offline is deleted all the same: what
// stands in its directory is retired, and the name can be used again.
func TestDeleteOfflineTopic(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "broken-0"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "broken"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "broken-0 to go offline", func() bool { return n.routes.load().partition("broken", 0) == nil })
	if resp, err := adm.DeleteTopics(ctx, "broken"); err != nil || resp["broken"].Err != nil {
		t.Fatalf("delete: %v %+v", err, resp)
	}
	waitFor(t, 10*time.Second, "the name to be free again", func() bool {
		cr, err := adm.CreateTopic(ctx, 1, 1, nil, "broken")
		return err == nil && cr.Err == nil
	})
	if n.routes.load().partition("broken", 0) == nil {
		t.Fatal("the recreated topic's partition is offline")
	}
	waitFor(t, 10*time.Second, "broken-0 to be the new partition's directory", func() bool {
		fi, err := os.Stat(filepath.Join(dir, "broken-0"))
		return err == nil && fi.IsDir()
	})
}

// A request that changes metadata is answered once the routes include the
// change: a client can use the partitions at once.
func TestChangesAreRoutedWhenAnswered(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.NumPartitions = 2 })
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n)
	adm := kadm.NewClient(cl)
	routed := func(topic string, partitions int32) {
		t.Helper()
		rt := n.routes.load()
		for p := int32(0); p < partitions; p++ {
			if rt.partition(topic, p) == nil {
				t.Fatalf("%s-%d has no actor in the routes", topic, p)
			}
		}
	}
	if _, err := adm.CreateTopic(ctx, 8, 1, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	routed("wide", 8)
	if cr, err := adm.CreatePartitions(ctx, 4, "wide"); err != nil || cr["wide"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, cr)
	}
	routed("wide", 12)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("auto")
	req.Topics, req.AllowAutoTopicCreation = append(req.Topics, rt), true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("auto-create: %v %+v", err, resp)
	}
	routed("auto", 2)
}

// Directories a previous run retired and did not remove are removed when
// the node starts.
func TestRetiredDirectoriesRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	retired := filepath.Join(dir, "old-0.00112233445566778899aabbccddeeff-delete")
	if err := os.MkdirAll(retired, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(retired, "00000000000000000000.log"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	startTestNode(t, dir, nil)
	waitFor(t, 10*time.Second, "the retired directory to be removed", func() bool {
		_, err := os.Stat(retired)
		return os.IsNotExist(err)
	})
}

package actors

import (
	"context"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/vfs"
)

// fullDisk is the operating system's filesystem whose writes to files
// whose path holds under fail with ENOSPC while full is set: one
// partition's directory on a full disk, the node's other files (its
// metadata log) on disks that work.
type fullDisk struct {
	vfs.FS
	under string
	full  *atomic.Bool
}

func (d fullDisk) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := d.FS.OpenFile(name, flag, perm)
	if err != nil || !strings.Contains(name, d.under) {
		return f, err
	}
	return fullFile{File: f, full: d.full}, nil
}

// fullFile fails its writes with ENOSPC while full is set.
type fullFile struct {
	vfs.File
	full *atomic.Bool
}

func (f fullFile) Write(p []byte) (int, error) {
	if f.full.Load() {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.full.Load() {
		return 0, &fs.PathError{Op: "writeat", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// offlineReplicas are the partition's offline replicas as a broker's
// Metadata answers them.
func offlineReplicas(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) []int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil
	}
	return resp.Topics[0].Partitions[0].OfflineReplicas
}

// The disk of the leader's partition fills up under a franz-go acks=all
// (idempotent) producer: the leader's append fails (ENOSPC), its replica
// goes offline as Kafka's log directory does (the batch answered
// KAFKA_STORAGE_ERROR, which the client retries), the controller moves the
// leadership, and the producer goes on there; every broker's Metadata lists
// the offline replica. Once space is freed the replica starts again by
// itself (its backoff), catches up and rejoins the ISR, with no restart,
// and Metadata no longer lists it. Nothing acknowledged is lost.
func TestFullDiskMovesLeadershipAndComesBack(t *testing.T) {
	full := &atomic.Bool{}
	c := newTestCluster(t, 1, 2, func(i int, cfg *Config) {
		fastReplication(i, cfg)
		if i == 1 {
			cfg.FS = fullDisk{FS: vfs.OS, under: "/full-0/", full: full}
		}
	})
	c.startAll()
	c.createAssigned(0, "full", []int32{2, 1, 3}, "2")
	c.waitISR(0, "full", 1, 2, 3)
	ctx := testContext(t, 120*time.Second)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.node(2).Addr().String()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	started := time.Now()
	acked := produceAcked(t, ctx, prod, "full", "before", 20)
	t.Logf("20 records acknowledged in %v before the disk filled", time.Since(started))

	full.Store(true)
	filled := time.Now()
	acked = append(acked, produceAcked(t, ctx, prod, "full", "full", 1)...)
	// franz-go refreshes its metadata after KAFKA_STORAGE_ERROR no sooner
	// than MetadataMinAge (5 s) after the last refresh; the leadership
	// moves within milliseconds.
	t.Logf("the first record after node 2's disk filled acknowledged in %v", time.Since(filled))
	acked = append(acked, produceAcked(t, ctx, prod, "full", "full-more", 29)...)
	tp, _ := c.node(0).routes.load().image.Topic("full")
	if l := tp.Partitions[0].Leader; l == 2 || l < 0 {
		t.Fatalf("full-0 led by %d with node 2's disk full", l)
	}
	t.Logf("30 records acknowledged %v after node 2's disk filled; leader %d, ISR %v", time.Since(filled), tp.Partitions[0].Leader, tp.Partitions[0].ISR)
	admin := newClient(t, c.node(0))
	waitFor(t, 10*time.Second, "Metadata to list node 2's replica of full-0 offline", func() bool {
		return slices.Contains(offlineReplicas(ctx, t, admin, "full"), 2)
	})

	full.Store(false)
	freed := time.Now()
	acked = append(acked, produceAcked(t, ctx, prod, "full", "freed", 10)...)
	waitFor(t, 60*time.Second, "node 2 back in the ISR of full-0", func() bool {
		tp, ok := c.node(0).routes.load().image.Topic("full")
		return ok && slices.Contains(tp.Partitions[0].ISR, 2)
	})
	t.Logf("node 2 back in the ISR %v after space was freed", time.Since(freed))
	waitFor(t, 10*time.Second, "Metadata to list no offline replica of full-0", func() bool {
		return len(offlineReplicas(ctx, t, admin, "full")) == 0
	})
	acked = append(acked, produceAcked(t, ctx, prod, "full", "after", 10)...)
	checkAcked(t, c.node(2), "full", acked)
	if len(acked) != 70 {
		t.Fatalf("%d records acknowledged, want 70", len(acked))
	}
}

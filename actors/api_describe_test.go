package actors

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func TestDescribeLogDirs(t *testing.T) {
	dir := t.TempDir()
	n := startTestNode(t, dir, nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "dirs"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "other"); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), 1000)
	for i := 0; i < 20; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "dirs", Partition: 1, Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	all, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[n.cfg.NodeID]
	abs, _ := filepath.Abs(dir)
	d, ok := dirs[abs]
	if len(dirs) != 1 || !ok || d.Err != nil {
		t.Fatalf("log dirs %+v, want one at %s", dirs, abs)
	}
	// Straight to the broker: kgo's merge of sharded DescribeLogDirs
	// answers drops the volume sizes.
	kr, err := cl.Broker(int(n.cfg.NodeID)).Request(ctx, kmsg.NewPtrDescribeLogDirsRequest())
	if err != nil {
		t.Fatal(err)
	}
	raw := kr.(*kmsg.DescribeLogDirsResponse)
	if rd := raw.Dirs[0]; rd.TotalBytes <= 0 || rd.UsableBytes <= 0 || rd.UsableBytes > rd.TotalBytes {
		t.Fatalf("v%d volume bytes total %d usable %d", raw.Version, rd.TotalBytes, rd.UsableBytes)
	}
	if len(d.Topics["dirs"]) != 3 || len(d.Topics["other"]) != 1 {
		t.Fatalf("partitions listed: %v", d.Topics)
	}
	if size := d.Topics["dirs"][1].Size; size < 20*1000 {
		t.Fatalf("dirs-1 size %d, want at least the 20 KB produced", size)
	}
	if size := d.Topics["dirs"][0].Size; size != 0 {
		t.Fatalf("empty dirs-0 size %d", size)
	}

	// Asking for some partitions, including unknown ones, lists those that
	// exist (straight to the broker: kgo refuses unknown ones itself).
	req := kmsg.NewPtrDescribeLogDirsRequest()
	req.Topics = []kmsg.DescribeLogDirsRequestTopic{{Topic: "dirs", Partitions: []int32{2, 7}}, {Topic: "nope", Partitions: []int32{0}}}
	kr, err = cl.Broker(int(n.cfg.NodeID)).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	raw = kr.(*kmsg.DescribeLogDirsResponse)
	if len(raw.Dirs) != 1 || len(raw.Dirs[0].Topics) != 1 || raw.Dirs[0].Topics[0].Topic != "dirs" ||
		len(raw.Dirs[0].Topics[0].Partitions) != 1 || raw.Dirs[0].Topics[0].Partitions[0].Partition != 2 {
		t.Fatalf("selected partitions: %+v", raw.Dirs)
	}
}

// TestDescribeLogDirsListsTheMetadataLogDir gives the node a metadata.log.dir
// of its own: DescribeLogDirs lists it beside the data directory, with its
// volume's sizes and no partitions.
func TestDescribeLogDirsListsTheMetadataLogDir(t *testing.T) {
	dir, meta := t.TempDir(), t.TempDir()
	n := startTestNode(t, dir, func(c *Config) { c.MetadataLogDir = meta })
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "dirs"); err != nil {
		t.Fatal(err)
	}
	all, err := kadm.NewClient(cl).DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[n.cfg.NodeID]
	absData, _ := filepath.Abs(dir)
	absMeta, _ := filepath.Abs(meta)
	if len(dirs) != 2 || dirs[absData].Err != nil || dirs[absMeta].Err != nil {
		t.Fatalf("log dirs %+v, want %s and %s", dirs, absData, absMeta)
	}
	if len(dirs[absData].Topics["dirs"]) != 2 || len(dirs[absMeta].Topics) != 0 {
		t.Fatalf("data dir topics %v, metadata dir topics %v", dirs[absData].Topics, dirs[absMeta].Topics)
	}
	kr, err := cl.Broker(int(n.cfg.NodeID)).Request(ctx, kmsg.NewPtrDescribeLogDirsRequest())
	if err != nil {
		t.Fatal(err)
	}
	raw := kr.(*kmsg.DescribeLogDirsResponse)
	if len(raw.Dirs) != 2 || raw.Dirs[1].Dir != absMeta || raw.Dirs[1].TotalBytes <= 0 || raw.Dirs[1].UsableBytes <= 0 {
		t.Fatalf("v%d dirs %+v", raw.Version, raw.Dirs)
	}
}

func TestListConfigResources(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "b-topic", "a-topic"); err != nil {
		t.Fatal(err)
	}
	listed, err := adm.ListConfigResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range listed.Resources {
		got[fmt.Sprintf("%d/%s", r.Type, r.Name)] = true
	}
	want := map[string]bool{"2/a-topic": true, "2/b-topic": true, fmt.Sprintf("4/%d", n.cfg.NodeID): true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	listed, err = adm.ListConfigResources(ctx, kadm.ConfigResourceBroker)
	if err != nil || len(listed.Resources) != 1 || listed.Resources[0].Name != "1" {
		t.Fatalf("brokers: %v %v", listed, err)
	}
	req := kmsg.NewPtrListConfigResourcesRequest()
	req.ResourceTypes = []int8{99}
	resp, err := req.RequestWith(ctx, newClient(t, n))
	if err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("unknown resource type: %v %+v", err, resp)
	}
}

func TestDescribeTopicPartitionsPages(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 5, 1, nil, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "beta"); err != nil {
		t.Fatal(err)
	}
	describe := func(topics []string, limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		for _, name := range topics {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = name
			req.Topics = append(req.Topics, rt)
		}
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Page through every topic three partitions at a time.
	var seen []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		resp := describe(nil, 3, cursor)
		for _, topic := range resp.Topics {
			if topic.ErrorCode != 0 || topic.TopicID == ([16]byte{}) {
				t.Fatalf("topic %+v", topic)
			}
			for _, p := range topic.Partitions {
				if p.LeaderID != n.cfg.NodeID || len(p.ISR) != 1 {
					t.Fatalf("partition %+v", p)
				}
				seen = append(seen, fmt.Sprintf("%s-%d", *topic.Topic, p.Partition))
			}
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if want := "[alpha-0 alpha-1 alpha-2 alpha-3 alpha-4 beta-0 beta-1]"; fmt.Sprint(seen) != want {
		t.Fatalf("paged %v, want %s", seen, want)
	}

	resp := describe([]string{"beta", "missing", "bad/name"}, 100, nil)
	codes := map[string]int16{}
	for _, topic := range resp.Topics {
		codes[*topic.Topic] = topic.ErrorCode
	}
	if codes["beta"] != 0 || codes["missing"] != kerr.UnknownTopicOrPartition.Code || codes["bad/name"] != kerr.InvalidTopicException.Code {
		t.Fatalf("codes %v", codes)
	}
	resp = describe([]string{"beta"}, 100, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "alpha"})
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("cursor outside the topics asked for: %+v", resp.Topics)
	}
}

// The topic's bytes in and out count the record batches appended and sent:
// a fetch whose response budget leaves a partition out does not count it.
func TestTopicByteCounters(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "counted"); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("c"), 10_000)
	for p := int32(0); p < 2; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "counted", Partition: p, Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	in := testutil.ToFloat64(n.metrics.topicBytesIn.WithLabelValues("counted"))
	if in < 20_000 {
		t.Fatalf("bytes in %v after 20 KB produced", in)
	}
	// One fetch of both partitions with room for one batch only.
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 100, 1, 1000
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "counted"
	for p := int32(0); p < 2; p++ {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.Fetch), 12) // by name
	resp, err := req.RequestWith(ctx, newClient(t, n, kgo.MaxVersions(versions)))
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, p := range resp.Topics[0].Partitions {
		sent += len(p.RecordBatches)
	}
	if sent == 0 || sent > int(in)/2+100 {
		t.Fatalf("fetch sent %d record bytes, want one partition's", sent)
	}
	if out := testutil.ToFloat64(n.metrics.topicBytesOut.WithLabelValues("counted")); out != float64(sent) {
		t.Fatalf("bytes out %v, the response carried %d", out, sent)
	}
}

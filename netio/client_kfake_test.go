package netio

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// startKfake starts a one-broker kfake cluster until the test ends.
func startKfake(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	cluster, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return cluster, cluster.ListenAddrs()[0]
}

// Against another Kafka implementation: ApiVersions is retried at kfake's
// version, every key goes at the highest version both serve, and a key kfake
// does not serve (BrokerRegistration) fails without a round trip.
func TestClientNegotiatesWithKfake(t *testing.T) {
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(18, 2) // ApiVersions: ours (v4) is answered UNSUPPORTED_VERSION
	versions.SetMaxKeyVersion(3, 7)  // Metadata
	_, addr := startKfake(t, kfake.MaxVersions(versions))
	c := newTestClient(t, addr, ClientConfig{})
	resp := roundTripMetadata(t, c, "t")
	if v := resp.Body.GetVersion(); v != 7 {
		t.Fatalf("Metadata v%d, want kfake's v7", v)
	}
	ctx := testContext(t, 10*time.Second)
	if _, err := c.RoundTrip(ctx, kmsg.NewPtrBrokerHeartbeatRequest()); !errors.Is(err, ErrNotServedByPeer) {
		t.Fatalf("BrokerHeartbeat to kfake: %v", err)
	}
}

// Pipelined requests to kfake, which answers one at a time per connection,
// each get their own response.
func TestClientPipelinesToKfake(t *testing.T) {
	_, addr := startKfake(t)
	c := newTestClient(t, addr, ClientConfig{})
	const requests = 200
	chans := make([]<-chan outcome, requests)
	for i := range requests {
		chans[i] = sendAsync(t, c, metadataRequest(0, fmt.Sprintf("topic-%d", i)), 0)
	}
	for i, ch := range chans {
		o := await(t, ch)
		if o.err != nil || metadataTopic(o.resp.Body) != fmt.Sprintf("topic-%d", i) {
			t.Fatalf("request %d: %v %q", i, o.err, metadataTopic(o.resp.Body))
		}
	}
}

// kfake swallows one Metadata request: it times out, and the client carries
// on over a new connection.
func TestClientTimeoutAgainstKfake(t *testing.T) {
	cluster, addr := startKfake(t)
	c := newTestClient(t, addr, ClientConfig{})
	roundTripMetadata(t, c, "warm-up")
	cluster.ControlKey(3, func(kmsg.Request) (kmsg.Response, error, bool) {
		return nil, nil, true // handled, never answered
	})
	swallowed := sendAsync(t, c, metadataRequest(0, "lost"), 200*time.Millisecond)
	checkRetriable(t, await(t, swallowed).err, ErrRequestTimeout)
	roundTripMetadata(t, c, "after")
}

// A follower-sized fetch: records produced with franz-go, fetched through
// the client at up to Fetch v12 (v13 names topics by id), decoded in place.
func TestClientLargeFetchFromKfake(t *testing.T) {
	_, addr := startKfake(t, kfake.SeedTopics(1, "big"))
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	const records, valueBytes = 4000, 1024
	value := bytes.Repeat([]byte("v"), valueBytes)
	ctx := testContext(t, 30*time.Second)
	for i := 0; i < records; i += 500 {
		var batch []*kgo.Record
		for j := range 500 {
			batch = append(batch, &kgo.Record{Key: fmt.Appendf(nil, "%d", i+j), Value: value})
		}
		if err := producer.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	c := newTestClient(t, addr, ClientConfig{
		APIVersions:         []APIVersionRange{{APIKey: 1, MinVersion: 4, MaxVersion: 12}},
		PoolResponseBuffers: true,
	})
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 64 << 20
	topic := kmsg.NewFetchRequestTopic()
	topic.Topic = "big"
	part := kmsg.NewFetchRequestTopicPartition()
	part.PartitionMaxBytes = 64 << 20
	topic.Partitions = append(topic.Partitions, part)
	req.Topics = append(req.Topics, topic)
	resp, err := c.RoundTrip(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Release()
	fetch := resp.Body.(*kmsg.FetchResponse)
	if v := fetch.Version; v != 12 {
		t.Fatalf("Fetch v%d, want the cap v12", v)
	}
	p := fetch.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != records {
		t.Fatalf("partition error %d, high watermark %d", p.ErrorCode, p.HighWatermark)
	}
	got := 0
	for raw := p.RecordBatches; len(raw) > 0; {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatalf("batch at record %d: %v", got, err)
		}
		got += int(b.NumRecords)
		raw = raw[12+b.Length:]
	}
	if got != records || len(p.RecordBatches) < records*valueBytes {
		t.Fatalf("fetched %d records in %d bytes", got, len(p.RecordBatches))
	}
}

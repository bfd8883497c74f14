package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A topic's compression.type other than producer is the codec its batches
// are stored in, as in Kafka: a batch franz-go produced with another codec
// is re-encoded, keeping its records, and kcat (librdkafka) reads them back;
// compression.type=producer keeps the producer's codec. The stored codec is
// read from the record batches of a raw Fetch (franz-go's kmsg).
func TestTopicCompressionTypeIsTheStoredCodec(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cases := []struct {
		topic, compressionType string
		codec                  kgo.CompressionCodec
		wantCodec              int16
	}{
		{"store-gzip", "gzip", kgo.NoCompression(), 1},
		{"store-zstd", "zstd", kgo.SnappyCompression(), 4},
		{"store-none", "uncompressed", kgo.Lz4Compression(), 0},
		{"store-producer", "producer", kgo.Lz4Compression(), 3},
	}
	adm := b.admin(t)
	for _, c := range cases {
		if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kadm.StringPtr(c.compressionType)}, c.topic); err != nil {
			t.Fatal(err)
		}
	}
	cl := b.client(t)
	for _, c := range cases {
		var want []string
		for i := range 30 {
			want = append(want, fmt.Sprintf("%s-%d-%s", c.topic, i, strings.Repeat("x", 200+i)))
		}
		// franz-go's producer is idempotent: a re-encoded batch keeps its
		// producer id and sequence, so the second batch's sequences follow on.
		producer := b.client(t, kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(20*time.Millisecond))
		for _, run := range [][]string{want[:20], want[20:]} {
			var recs []*kgo.Record
			for _, v := range run {
				recs = append(recs, &kgo.Record{Topic: c.topic, Value: []byte(v)})
			}
			if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce to %s: %v", c.topic, err)
			}
		}
		out, err := exec.CommandContext(ctx, "kcat", "-b", b.addr, "-C", "-t", c.topic, "-e", "-q").Output()
		if err != nil {
			t.Fatalf("kcat -C -t %s: %v\n%s", c.topic, err, out)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, want) {
			t.Errorf("%s: kcat read %q, want %q", c.topic, got, want)
		}
		codecs := storedCodecs(ctx, t, cl, c.topic)
		if len(codecs) == 0 {
			t.Fatalf("%s: a fetch from offset 0 returned no batch", c.topic)
		}
		for i, codec := range codecs {
			if codec != c.wantCodec {
				t.Errorf("%s (compression.type %s): batch %d stored with codec %d, want %d",
					c.topic, c.compressionType, i, codec, c.wantCodec)
			}
		}
	}
}

// storedCodecs fetches a one-partition topic from offset 0 and returns the
// codec of each record batch, as stored.
func storedCodecs(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) []int16 {
	t.Helper()
	var codecs []int16
	for raw := fetchStored(ctx, t, cl, topic); len(raw) > 0; {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw); err != nil {
			t.Fatalf("fetch of %s: batch %d: %v", topic, len(codecs), err)
		}
		codecs = append(codecs, rb.Attributes&0x07)
		raw = raw[12+int(rb.Length):]
	}
	return codecs
}

// fetchStored fetches a one-partition topic from offset 0 with a raw Fetch
// (franz-go's kmsg) and returns its record batches as the broker sent them.
func fetchStored(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) []byte {
	t.Helper()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %v %+v", topic, err, mresp)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 100, 10<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, mresp.Topics[0].TopicID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 10 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("fetch of %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0].Partitions[0].RecordBatches
}

// kcat (librdkafka 2.0) compresses with every codec: it turns gzip, snappy
// and lz4 on only for a broker whose ApiVersions lists Produce v2, which
// gregor lists from v0 as Kafka 4 does (KAFKA-18659) while it serves v3 up.
// Before, librdkafka logged "Broker does not support compression type gzip:
// not compressing batch" and produced uncompressed.
func TestKcatCompressesEveryCodec(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	codecs := map[string]int16{"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
	cl := b.client(t)
	for name, want := range codecs {
		topic := "kcat-" + name
		if _, err := b.admin(t).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		var values []string
		for i := range 20 {
			values = append(values, fmt.Sprintf("%s-%d-%s", name, i, strings.Repeat("y", 300)))
		}
		produce := exec.CommandContext(ctx, "kcat", "-b", b.addr, "-P", "-t", topic, "-p", "0", "-z", name)
		produce.Stdin = strings.NewReader(strings.Join(values, "\n") + "\n")
		if out, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P -z %s: %v\n%s", name, err, out)
		}
		out, err := exec.CommandContext(ctx, "kcat", "-b", b.addr, "-C", "-t", topic, "-e", "-q").Output()
		if err != nil {
			t.Fatalf("kcat -C -t %s: %v\n%s", topic, err, out)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, values) {
			t.Errorf("%s: kcat read back %d records, want %d", topic, len(got), len(values))
		}
		got := storedCodecs(ctx, t, cl, topic)
		if len(got) == 0 {
			t.Fatalf("%s: a fetch from offset 0 returned no batch", topic)
		}
		for i, codec := range got {
			if codec != want {
				t.Errorf("kcat -z %s: batch %d stored with codec %d, want %d", name, i, codec, want)
			}
		}
	}
}

// The level a topic stores gzip batches with is compression.gzip.level
// (KIP-390), or the broker's key of the same name for a topic that does not
// set it: the stored batch's gzip header says which (XFL 4 for level 1, 2 for
// 9, 0 for the others). A level outside Kafka's range is refused
// INVALID_CONFIG.
func TestTopicCompressionLevelIsTheStoredLevel(t *testing.T) {
	b := startBroker(t, "compression.gzip.level=9")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin(t)
	cases := []struct {
		topic string
		level *string // nil: the broker's 9
		xfl   byte
	}{{"gzip-1", kadm.StringPtr("1"), 4}, {"gzip-default", kadm.StringPtr("-1"), 0}, {"gzip-broker", nil, 2}}
	producer := b.client(t, kgo.ProducerBatchCompression(kgo.NoCompression()))
	cl := b.client(t)
	for _, c := range cases {
		configs := map[string]*string{"compression.type": kadm.StringPtr("gzip")}
		if c.level != nil {
			configs["compression.gzip.level"] = c.level
		}
		if _, err := adm.CreateTopic(ctx, 1, 1, configs, c.topic); err != nil {
			t.Fatal(err)
		}
		if err := producer.ProduceSync(ctx, &kgo.Record{Topic: c.topic, Value: []byte(strings.Repeat("compressible ", 100))}).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", c.topic, err)
		}
		sections := storedSections(ctx, t, cl, c.topic)
		if len(sections) != 1 || len(sections[0]) < 10 {
			t.Fatalf("%s: stored record sections %q, want one gzip stream", c.topic, sections)
		}
		if got := sections[0][8]; got != c.xfl {
			t.Errorf("%s: stored gzip header XFL %d, want %d", c.topic, got, c.xfl)
		}
	}
	for key, value := range map[string]string{"compression.gzip.level": "0", "compression.lz4.level": "18", "compression.zstd.level": "23"} {
		resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{key: kadm.StringPtr(value)}, "bad-level")
		if !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("create a topic with %s=%s: %v (%s), want INVALID_CONFIG", key, value, err, resp.ErrMessage)
		}
	}
}

// storedSections fetches a one-partition topic from offset 0 and returns
// the record section of each record batch, as stored.
func storedSections(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) [][]byte {
	t.Helper()
	var sections [][]byte
	for raw := fetchStored(ctx, t, cl, topic); len(raw) > 0; {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw); err != nil {
			t.Fatalf("fetch of %s: batch %d: %v", topic, len(sections), err)
		}
		sections = append(sections, rb.Records)
		raw = raw[12+int(rb.Length):]
	}
	return sections
}

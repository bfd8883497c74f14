package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestFranzGoCodecsAndKeys(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := b.admin(t)
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, "keyed"); err != nil {
		t.Fatal(err)
	}
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	total := 0
	for name, codec := range codecs {
		cl := b.client(t, kgo.DefaultProduceTopic("keyed"), kgo.ProducerBatchCompression(codec))
		for i := 0; i < 200; i++ {
			r := &kgo.Record{Key: []byte(fmt.Sprint("key-", i%10)), Value: []byte(fmt.Sprintf("%s-%d", name, i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
			total++
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	recs := b.consumeAll(t, "keyed", total)
	partitionOf := map[string]int32{}
	seen := map[string]bool{}
	for _, r := range recs {
		if p, ok := partitionOf[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		partitionOf[string(r.Key)] = r.Partition
		seen[string(r.Value)] = true
	}
	if len(seen) != total {
		t.Fatalf("read %d distinct values of %d", len(seen), total)
	}
}

func TestSaramaRoundTrip(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionSnappy
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 20; i++ {
		p, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama", Value: sarama.StringEncoder(fmt.Sprint("s-", i))})
		if err != nil {
			t.Fatal(err)
		}
		if p != 0 || off != int64(i) {
			t.Fatalf("record %d at %d/%d", i, p, off)
		}
	}
	cons, err := sarama.NewConsumer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sarama", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := 0; i < 20; i++ {
		select {
		case m := <-pc.Messages():
			if string(m.Value) != fmt.Sprint("s-", i) || m.Offset != int64(i) {
				t.Fatalf("message %d: %q at %d", i, m.Value, m.Offset)
			}
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-time.After(20 * time.Second):
			t.Fatalf("sarama read %d of 20", i)
		}
	}
}

func TestKafkaGoRoundTrip(t *testing.T) {
	b := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(b.addr), Topic: "kgo-seg", RequiredAcks: kafka.RequireAll,
		AllowAutoTopicCreation: true, Compression: kafka.Lz4, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for i := 0; i < 30; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprint("kg-", i))})
	}
	var err error
	for attempt := 0; attempt < 20; attempt++ { // the first write may race topic creation
		if err = w.WriteMessages(ctx, msgs...); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{b.addr}, Topic: "kgo-seg", Partition: 0, MaxWait: 500 * time.Millisecond})
	defer r.Close()
	for i := 0; i < 30; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Value) != fmt.Sprint("kg-", i) || m.Offset != int64(i) {
			t.Fatalf("message %d: %q at %d", i, m.Value, m.Offset)
		}
	}
}

func TestKcatEveryCodec(t *testing.T) {
	b := startBroker(t)
	var want []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		// Compressible: librdkafka sends a batch uncompressed when its
		// codec would not make it smaller.
		pad := strings.Repeat("x", 300)
		lines := fmt.Sprintf("%[1]s-1-%[2]s\n%[1]s-2-%[2]s\n%[1]s-3-%[2]s\n", codec, pad)
		cmd := exec.Command("kcat", "-P", "-b", b.addr, "-t", "kcat", "-p", "0", "-z", codec, "-X", "acks=all")
		cmd.Stdin = strings.NewReader(lines)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce %s: %v\n%s", codec, err, out)
		}
		want = append(want, strings.Fields(lines)...)
	}
	out, err := exec.Command("kcat", "-C", "-b", b.addr, "-t", "kcat", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%o %s\n").Output()
	if err != nil {
		t.Fatalf("kcat consume: %v", err)
	}
	var got []string
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var off int
		var v string
		fmt.Sscan(line, &off, &v)
		if off != i {
			t.Fatalf("line %q: offset %d, want %d", line, off, i)
		}
		got = append(got, v)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("kcat read %v, want %v", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := slices.Compact(storedCodecs(ctx, t, b.client(t), "kcat")); !slices.Equal(got, []int16{0, 1, 2, 3, 4}) {
		t.Errorf("kcat's batches were stored with codecs %v in turn, want none, gzip, snappy, lz4, zstd", got)
	}
	meta, err := exec.Command("kcat", "-L", "-b", b.addr, "-t", "kcat").Output()
	if err != nil || !strings.Contains(string(meta), "leader 1") {
		t.Fatalf("kcat -L: %v\n%s", err, meta)
	}
}

// TestKafkaPythonEveryCodec produces and consumes through kafka-python with
// each codec it has (gzip, snappy, lz4, zstd: Debian's python3-snappy,
// python3-lz4 and python3-zstandard, which .ci/install-test-deps installs),
// keys and headers included, and checks that each batch was stored with the
// codec kafka-python was asked for (a client that silently sent its batches
// uncompressed would pass the round trip).
func TestKafkaPythonEveryCodec(t *testing.T) {
	b := startBroker(t)
	out, err := exec.Command("/usr/bin/python3", "testdata/codecs_kafka_python.py", b.addr, "codec", "200").CombinedOutput()
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "ok") {
		t.Fatalf("codecs_kafka_python.py: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := b.client(t)
	for name, want := range map[string]int16{"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4} {
		if got := slices.Compact(storedCodecs(ctx, t, cl, "codec-"+name)); !slices.Equal(got, []int16{want}) {
			t.Errorf("kafka-python's %s batches were stored with codecs %v, want %d", name, got, want)
		}
	}
}

func TestPythonClients(t *testing.T) {
	b := startBroker(t)
	for _, script := range []string{"roundtrip_kafka_python.py", "roundtrip_confluent.py"} {
		topic := strings.TrimSuffix(script, ".py")
		args := []string{"testdata/" + script, b.addr, topic}
		if script == "roundtrip_kafka_python.py" {
			args = append(args, "25")
		}
		cmd := exec.Command("/usr/bin/python3", args...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasPrefix(strings.TrimSpace(string(out)), "ok") {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
	}
	// confluent-kafka (librdkafka) produced one codec after another.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := slices.Compact(storedCodecs(ctx, t, b.client(t), "roundtrip_confluent")); !slices.Equal(got, []int16{0, 1, 2, 3, 4}) {
		t.Errorf("confluent-kafka's batches were stored with codecs %v in turn, want none, gzip, snappy, lz4, zstd", got)
	}
}

package netio

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recordingListener keeps a copy of every byte the clients send, to see on
// the wire which requests they made.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*recordingConn
}

type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, rc)
	l.mu.Unlock()
	return rc, nil
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.buf.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

// requestKinds returns "key/version" of every complete request sent on the
// first connection.
func (l *recordingListener) requestKinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		return nil
	}
	c := l.conns[0]
	c.mu.Lock()
	b := append([]byte(nil), c.buf.Bytes()...)
	c.mu.Unlock()
	var kinds []string
	for len(b) >= 8 {
		size := int(binary.BigEndian.Uint32(b))
		if len(b) < 4+size {
			break
		}
		key, version := int16(binary.BigEndian.Uint16(b[4:])), int16(binary.BigEndian.Uint16(b[6:]))
		kinds = append(kinds, strconv.Itoa(int(key))+"/"+strconv.Itoa(int(version)))
		b = b[4+size:]
	}
	return kinds
}

// startRecordedServer serves h behind a recordingListener.
func startRecordedServer(t *testing.T, cfg Config, h *memoryHandler) (*Server, *recordingListener) {
	t.Helper()
	logger, _ := testLogger(t)
	cfg.APIVersions = testVersions
	s, err := NewServer(cfg, h, logger)
	if err != nil {
		t.Fatal(err)
	}
	rl := &recordingListener{Listener: mustListen(t)}
	addr := rl.Addr().(*net.TCPAddr)
	h.brokerHost, h.brokerPort = addr.IP.String(), int32(addr.Port)
	served := make(chan error, 1)
	go func() { served <- s.Serve(rl) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, rl
}

// franz-go negotiates ApiVersions down from v5 (answered UNSUPPORTED_VERSION
// with our max, v4), then produces with acks=all and acks=0 and reads
// metadata and versions through kadm.
func TestFranzGoClient(t *testing.T) {
	h := &memoryHandler{maxDelay: time.Millisecond}
	_, rl := startRecordedServer(t, Config{}, h)
	addr := rl.Addr().String()
	ctx := testContext(t, 30*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.ClientID("kgo-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 3; i++ {
		res := cl.ProduceSync(ctx, &kgo.Record{Topic: "test-topic", Value: []byte("hello " + strconv.Itoa(i))})
		r, err := res.First()
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("produce %d: offset %d", i, r.Offset)
		}
	}
	kinds := rl.requestKinds()
	t.Logf("kgo requests on the wire: %v", kinds)
	if len(kinds) < 2 || kinds[0] != "18/5" || kinds[1] != "18/4" {
		t.Fatalf("ApiVersions negotiation on the wire: %v, want 18/5 then 18/4", kinds)
	}

	adm := kadm.NewClient(cl)
	versions, err := adm.ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bv := range versions {
		if bv.Err != nil {
			t.Fatalf("broker %d: %v", bv.NodeID, bv.Err)
		}
		if lo, hi, ok := bv.KeyVersions(0); !ok || lo != 3 || hi != 12 {
			t.Fatalf("Produce versions %d..%d (%v)", lo, hi, ok)
		}
	}
	meta, err := adm.Metadata(ctx, "other-topic")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Cluster != testClusterID || len(meta.Topics["other-topic"].Partitions) != 1 {
		t.Fatalf("metadata: %+v", meta)
	}

	noAcks, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.NoAck()))
	if err != nil {
		t.Fatal(err)
	}
	defer noAcks.Close()
	before := h.producedPartitions()
	for i := 0; i < 10; i++ {
		if err := noAcks.ProduceSync(ctx, &kgo.Record{Topic: "test-topic", Value: []byte("fire and forget")}).FirstErr(); err != nil {
			t.Fatalf("acks=0 produce: %v", err)
		}
	}
	waitFor(t, "acks=0 batches", 10*time.Second, func() bool { return h.producedPartitions() >= before+1 })
}

// With the cluster identity configured, v5 is served and kgo's first
// ApiVersions succeeds.
func TestFranzGoApiVersionsV5(t *testing.T) {
	h := &memoryHandler{}
	_, rl := startRecordedServer(t, Config{ClusterID: testClusterID, NodeID: 0}, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(rl.Addr().String()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Ping(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if kinds := rl.requestKinds(); len(kinds) < 2 || kinds[0] != "18/5" || kinds[1] == "18/4" {
		t.Fatalf("requests on the wire: %v, want 18/5 accepted", kinds)
	}
}

// sarama (ApiVersions v3, then Metadata and Produce at its versions).
func TestSaramaClient(t *testing.T) {
	h := &memoryHandler{}
	_, rl := startRecordedServer(t, Config{}, h)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "sarama-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{rl.Addr().String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	topics, err := client.Topics()
	if err != nil || len(topics) != 1 || topics[0] != "test-topic" {
		t.Fatalf("topics %v, %v", topics, err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	for i := 0; i < 3; i++ {
		_, offset, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "test-topic", Value: sarama.StringEncoder("v")})
		if err != nil || offset != int64(i) {
			t.Fatalf("send %d: offset %d, %v", i, offset, err)
		}
	}
	if kinds := rl.requestKinds(); len(kinds) == 0 || kinds[0] != "18/3" {
		t.Fatalf("requests on the wire: %v, want ApiVersions v3 first", kinds)
	}
}

// kafka-go: ApiVersions v0 and Metadata on a Conn, and a Writer producing.
func TestKafkaGoClient(t *testing.T) {
	h := &memoryHandler{}
	_, rl := startRecordedServer(t, Config{}, h)
	addr := rl.Addr().String()
	conn, err := kafkago.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	versions, err := conn.ApiVersions()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range versions {
		if v.ApiKey == 3 && v.MinVersion == 0 && v.MaxVersion == 12 {
			found = true
		}
	}
	if !found {
		t.Fatalf("Metadata not in %+v", versions)
	}
	partitions, err := conn.ReadPartitions("test-topic")
	if err != nil || len(partitions) != 1 || partitions[0].Leader.Port != int(h.brokerPort) {
		t.Fatalf("partitions %+v, %v", partitions, err)
	}
	if kinds := rl.requestKinds(); len(kinds) == 0 || kinds[0] != "18/0" {
		t.Fatalf("requests on the wire: %v, want ApiVersions v0 first", kinds)
	}

	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: "test-topic", RequiredAcks: kafkago.RequireOne,
		BatchTimeout: time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafkago.Message{Value: []byte("from kafka-go")}); err != nil {
		t.Fatal(err)
	}
	if h.producedPartitions() != 1 {
		t.Fatalf("produced %d partitions", h.producedPartitions())
	}
}

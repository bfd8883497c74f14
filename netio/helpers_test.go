package netio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// testVersions is the table the test broker serves besides ApiVersions.
var testVersions = []APIVersionRange{
	{APIKey: 0, MinVersion: 3, MaxVersion: 12}, // Produce
	{APIKey: 3, MinVersion: 0, MaxVersion: 12}, // Metadata
}

const testClusterID = "gregor-test-cluster"

// memoryHandler is a fake broker answering Metadata (one partition per topic,
// led by node 0) and Produce (offsets from a counter) from memory. With
// maxDelay set, answers come later from other goroutines, in random order.
type memoryHandler struct {
	maxDelay time.Duration
	// brokerHost and brokerPort are advertised in Metadata.
	brokerHost string
	brokerPort int32

	mu        sync.Mutex
	nextOff   map[string]int64
	records   int // Produce partitions received (one batch each)
	requests  int
	rngSeed   uint64
	lastAcks0 int
}

func (h *memoryHandler) Handle(req *Request, respond func(kmsg.Response)) {
	var resp kmsg.Response
	switch body := req.Body.(type) {
	case *kmsg.MetadataRequest:
		resp = h.metadata(body)
	case *kmsg.ProduceRequest:
		resp = h.produce(body)
	default:
		panic(fmt.Sprintf("memoryHandler: unexpected %T", body))
	}
	h.mu.Lock()
	h.requests++
	h.rngSeed = h.rngSeed*6364136223846793005 + 1442695040888963407
	delay := time.Duration(0)
	if h.maxDelay > 0 {
		delay = time.Duration(h.rngSeed>>33) % h.maxDelay
	}
	h.mu.Unlock()
	if h.maxDelay == 0 {
		respond(resp)
		return
	}
	go func() {
		time.Sleep(delay) // simulated service time, not a wait for a condition
		respond(resp)
	}()
}

func (h *memoryHandler) metadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	broker := kmsg.NewMetadataResponseBroker()
	broker.NodeID = 0
	broker.Host = h.brokerHost
	broker.Port = h.brokerPort
	resp.Brokers = append(resp.Brokers, broker)
	resp.ClusterID = kmsg.StringPtr(testClusterID)
	resp.ControllerID = 0
	names := []string{"test-topic"}
	if req.Topics != nil {
		names = names[:0]
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	for i, name := range names {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(name)
		topic.TopicID[0], topic.TopicID[15] = byte(i+1), 0x42
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = 0
		p.Leader = 0
		p.LeaderEpoch = 1
		p.Replicas = []int32{0}
		p.ISR = []int32{0}
		topic.Partitions = append(topic.Partitions, p)
		resp.Topics = append(resp.Topics, topic)
	}
	return resp
}

// produce acknowledges every partition; nil for acks=0.
func (h *memoryHandler) produce(req *kmsg.ProduceRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nextOff == nil {
		h.nextOff = make(map[string]int64)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			var batch kmsg.RecordBatch
			key := t.Topic + "/" + strconv.Itoa(int(p.Partition))
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset = h.nextOff[key]
			if err := batch.ReadFrom(p.Records); err == nil {
				h.nextOff[key] += int64(batch.LastOffsetDelta) + 1
			}
			h.records++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Acks == 0 {
		h.lastAcks0++
		return nil
	}
	return resp
}

func (h *memoryHandler) producedPartitions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.records
}

// testLogger logs through t and records entries for assertions.
func testLogger(t testing.TB) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	tl := zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel))
	return zap.New(zapcore.NewTee(tl.Core(), core)), logs
}

// startServer serves h on a loopback port until the test ends.
func startServer(t testing.TB, cfg Config, h Handler) *Server {
	t.Helper()
	logger, _ := testLogger(t)
	return startServerWithLogger(t, cfg, h, logger)
}

func startServerWithLogger(t testing.TB, cfg Config, h Handler, logger *zap.Logger) *Server {
	t.Helper()
	if cfg.APIVersions == nil {
		cfg.APIVersions = testVersions
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:0"
	}
	s, err := NewServer(cfg, h, logger)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	// The listener is opened first, so a memoryHandler learns its address
	// before any connection can reach it (setting it after Start raced
	// with the first requests).
	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if mh, ok := h.(*memoryHandler); ok {
		addr := l.Addr().(*net.TCPAddr)
		mh.brokerHost, mh.brokerPort = addr.IP.String(), int32(addr.Port)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	for deadline := time.Now().Add(10 * time.Second); s.Addr() == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("server did not take its listener")
		}
		runtime.Gosched()
	}
	return s
}

// rawClient speaks the wire protocol by hand over one connection.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	fmt  *kmsg.RequestFormatter
}

func dialRaw(t testing.TB, addr net.Addr, clientID string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn),
		fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// send writes one request frame.
func (c *rawClient) send(req kmsg.Request, corr int32) {
	c.t.Helper()
	c.write(c.fmt.AppendRequest(nil, req, corr))
}

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readFrame reads one response frame: correlation id and the rest.
func (c *rawClient) readFrame() (int32, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return 0, nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.r, frame); err != nil {
		return 0, nil, err
	}
	if len(frame) < 4 {
		return 0, nil, errors.New("short response frame")
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:], nil
}

// readResponse reads the response to req and checks its correlation id.
func (c *rawClient) readResponse(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	gotCorr, body, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response %d: %v", corr, err)
	}
	if gotCorr != corr {
		c.t.Fatalf("correlation id %d, want %d", gotCorr, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		if len(body) == 0 || body[0] != 0 {
			c.t.Fatalf("response header tags: %x", body[:min(len(body), 1)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s response: %v", kmsg.NameForKey(resp.Key()), err)
	}
	return resp
}

// roundTrip sends req and returns its response.
func (c *rawClient) roundTrip(req kmsg.Request, corr int32) kmsg.Response {
	c.t.Helper()
	c.send(req, corr)
	return c.readResponse(req, corr)
}

// expectClosed waits until the server closes the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.r.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after 10s")
		}
		return // EOF or reset
	}
}

// metadataRequest asks for one topic at a version.
func metadataRequest(version int16, topic string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	return req
}

// apiVersionsRequest is a valid ApiVersions request at a version.
func apiVersionsRequest(version int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = version
	req.ClientSoftwareName = "gregor-test"
	req.ClientSoftwareVersion = "1.0"
	return req
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testContext is a context bounded by a timeout and the test.
func testContext(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// connFrames reads the frames of r as a connection's reader does, through a
// buffered reader, each frame in a fresh buffer.
func connFrames(r io.Reader, maxBytes int32) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, readBufferBytes), raw: r, maxBytes: maxBytes}
}

// handlerFunc adapts a function to Handler.
type handlerFunc func(req *Request, respond func(kmsg.Response))

// Handle calls f.
func (f handlerFunc) Handle(req *Request, respond func(kmsg.Response)) { f(req, respond) }

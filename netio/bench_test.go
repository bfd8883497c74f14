package netio

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
)

// benchHandler answers at once with an empty response of the request's kind,
// so the benchmark measures netio.
type benchHandler struct{}

func (benchHandler) Handle(req *Request, respond func(kmsg.Response)) {
	respond(req.Body.ResponseKind())
}

// pipelineClient writes n copies of frame on conn from one goroutine and reads
// n size-prefixed frames back on the caller's.
func pipelineClient(b *testing.B, conn net.Conn, frame []byte, n int) {
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		for i := 0; i < n; i++ {
			if _, err := w.Write(frame); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- w.Flush()
	}()
	r := bufio.NewReaderSize(conn, 64<<10)
	var size [4]byte
	for i := 0; i < n; i++ {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			b.Fatalf("read response %d: %v", i, err)
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint32(size[:]))); err != nil {
			b.Fatalf("read response %d: %v", i, err)
		}
	}
	if err := <-writeErr; err != nil {
		b.Fatal(err)
	}
}

// echoServer is raw loopback TCP echo: the reference for the same bytes.
func echoServer(b *testing.B) net.Addr {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr()
}

// retainingBenchHandler is benchHandler as a handler of pooled frames would
// be: it retains a Produce request's frame while it answers, and releases it
// after, as a partition would after its append.
type retainingBenchHandler struct{}

func (retainingBenchHandler) Handle(req *Request, respond func(kmsg.Response)) {
	if _, ok := req.Body.(*kmsg.ProduceRequest); ok {
		release := req.Retain()
		respond(req.Body.ResponseKind())
		release()
		return
	}
	respond(req.Body.ResponseKind())
}

// Pipelined requests through one loopback connection: gregor's server
// (framing, decode, handler, encode, ordered write) beside raw TCP echo of the
// same request bytes, with request frames allocated per request (pool=off,
// the default) and from the server's pool (pool=on). The allocations per
// request are the server's and the client's (the client allocates next to
// nothing).
func BenchmarkPipelined(b *testing.B) {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench"))
	produce := produceRequest(9, 1, "bench-topic")
	produce.Topics[0].Partitions[0].Records = make([]byte, 1024)
	bigProduce := produceRequest(9, 1, "bench-topic")
	bigProduce.Topics[0].Partitions[0].Records = make([]byte, 1<<20)
	requests := []struct {
		name  string
		frame []byte
	}{
		{"metadata", f.AppendRequest(nil, metadataRequest(12, "bench-topic"), 1)},
		{"produce-1KiB", f.AppendRequest(nil, produce, 1)},
		{"produce-1MiB", f.AppendRequest(nil, bigProduce, 1)},
	}
	for _, pooled := range []bool{false, true} {
		pool := "pool=off/"
		var handler Handler = benchHandler{}
		if pooled {
			pool, handler = "pool=on/", retainingBenchHandler{}
		}
		for _, rq := range requests {
			name := pool + "req=" + rq.name + "-" + strconv.Itoa(len(rq.frame)) + "B"
			b.Run(name+"/gregor", func(b *testing.B) {
				cfg := Config{Address: "127.0.0.1:0", APIVersions: testVersions, PoolRequestBuffers: pooled}
				s, err := NewServer(cfg, handler, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Start(); err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchPipeline(b, s.Addr(), rq.frame)
			})
			b.Run(name+"/ref-rawtcp", func(b *testing.B) {
				benchPipeline(b, echoServer(b), rq.frame)
			})
		}
	}
}

func benchPipeline(b *testing.B, addr net.Addr, frame []byte) {
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	pipelineClient(b, conn, frame, b.N)
}

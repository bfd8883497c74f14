package netio

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fileSection writes n bytes of a file from off: the shape of the future
// zero-copy Fetch path (io.Copy to a TCP connection uses sendfile).
type fileSection struct {
	f      *os.File
	off, n int64
}

func (s fileSection) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(s.f, s.off, s.n))
}

// bigMetadataResponse has enough topics to pass directWriteBytes.
func bigMetadataResponse(version int16, topics int) *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = version
	for i := 0; i < topics; i++ {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(fmt.Sprintf("topic-with-a-long-name-%06d", i))
		resp.Topics = append(resp.Topics, topic)
	}
	return resp
}

// An EncodedResponse made of a small part, a large part and a file section
// reaches the client as the same bytes as the plain response.
func TestEncodedResponseParts(t *testing.T) {
	plain := bigMetadataResponse(12, 3000)
	body := plain.AppendTo(nil)
	if len(body) < 100+directWriteBytes+1000 {
		t.Fatalf("body of %d bytes is too small for the test", len(body))
	}
	split1, split2 := 100, 100+directWriteBytes+10
	path := filepath.Join(t.TempDir(), "segment")
	if err := os.WriteFile(path, append(make([]byte, 7), body[split2:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	encoded := &EncodedResponse{Response: kmsg.NewPtrMetadataResponse(), Parts: []EncodedPart{
		{Bytes: body[:split1]},
		{Bytes: body[split1:split2]},
		{From: fileSection{f: f, off: 7, n: int64(len(body) - split2)}, FromBytes: int64(len(body) - split2)},
	}}
	if got := encoded.AppendTo(nil); !bytes.Equal(got, body) {
		t.Fatalf("AppendTo differs from the plain encoding")
	}

	var broken sync.Once
	h := handlerFunc(func(req *Request, respond func(kmsg.Response)) {
		if topics := req.Body.(*kmsg.MetadataRequest).Topics; len(topics) > 0 && *topics[0].Topic == "short" {
			broken.Do(func() {
				respond(&EncodedResponse{Response: kmsg.NewPtrMetadataResponse(), Parts: []EncodedPart{
					{From: fileSection{f: f, off: 0, n: 10}, FromBytes: 20},
				}})
			})
			return
		}
		respond(encoded)
	})
	s := startServer(t, Config{}, h)
	c := dialRaw(t, s.Addr(), "encoded")
	for i := int32(1); i <= 3; i++ {
		resp := c.roundTrip(metadataRequest(12, "x"), i).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 3000 || *resp.Topics[2999].Topic != *plain.Topics[2999].Topic {
			t.Fatalf("response %d: %d topics", i, len(resp.Topics))
		}
	}
	// A part shorter than announced breaks the stream: the connection closes.
	c.send(metadataRequest(12, "short"), 4)
	c.expectClosed()
}

// The response header has a tag byte for flexible versions, except for
// ApiVersions; the size prefix counts everything after itself.
func TestResponseFrameLayout(t *testing.T) {
	cases := []struct {
		resp     kmsg.Response
		wantTags bool
	}{
		{&kmsg.MetadataResponse{Version: 8}, false},
		{&kmsg.MetadataResponse{Version: 9}, true},
		{&kmsg.ApiVersionsResponse{Version: 3}, false},
		{&kmsg.ApiVersionsResponse{Version: 0}, false},
		{&kmsg.ProduceResponse{Version: 9}, true},
		{&EncodedResponse{Response: &kmsg.ProduceResponse{Version: 9}, Parts: []EncodedPart{{Bytes: []byte{1, 2}}}}, true},
	}
	for _, tc := range cases {
		var out bytes.Buffer
		fw := frameWriter{w: &out}
		if err := fw.appendResponse(42, tc.resp); err != nil {
			t.Fatal(err)
		}
		if err := fw.flush(); err != nil {
			t.Fatal(err)
		}
		b := out.Bytes()
		body := tc.resp.AppendTo(nil)
		header := 4
		if tc.wantTags {
			header = 5
		}
		if len(b) != 4+header+len(body) || int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) != header+len(body) {
			t.Fatalf("%T v%d: frame %x", tc.resp, tc.resp.GetVersion(), b)
		}
		if !bytes.Equal(b[4:8], []byte{0, 0, 0, 42}) || (tc.wantTags && b[8] != 0) || !bytes.Equal(b[4+header:], body) {
			t.Fatalf("%T v%d: frame %x", tc.resp, tc.resp.GetVersion(), b)
		}
	}
}

// countingObserver counts every Observer event.
type countingObserver struct {
	mu     sync.Mutex
	counts observedCounts
}

type observedCounts struct {
	opened, closed, refused int
	completed               map[int16]int
	bytesIn, bytesOut       int
	maxLatency              time.Duration
}

func (o *countingObserver) update(f func(c *observedCounts)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(&o.counts)
}

func (o *countingObserver) ConnectionOpened()   { o.update(func(c *observedCounts) { c.opened++ }) }
func (o *countingObserver) ConnectionClosed()   { o.update(func(c *observedCounts) { c.closed++ }) }
func (o *countingObserver) ConnectionRefused()  { o.update(func(c *observedCounts) { c.refused++ }) }
func (o *countingObserver) BytesReceived(n int) { o.update(func(c *observedCounts) { c.bytesIn += n }) }
func (o *countingObserver) BytesSent(n int)     { o.update(func(c *observedCounts) { c.bytesOut += n }) }
func (o *countingObserver) RequestCompleted(apiKey int16, latency time.Duration) {
	o.update(func(c *observedCounts) {
		if c.completed == nil {
			c.completed = make(map[int16]int)
		}
		c.completed[apiKey]++
		c.maxLatency = max(c.maxLatency, latency)
	})
}

func (o *countingObserver) snapshot() observedCounts {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.counts
	c.completed = make(map[int16]int)
	for k, v := range o.counts.completed {
		c.completed[k] = v
	}
	return c
}

// The Observer sees connections, requests (nil responses included) and the
// exact wire bytes in both directions.
func TestObserverCounts(t *testing.T) {
	obs := &countingObserver{}
	h := &memoryHandler{maxDelay: 5 * time.Millisecond}
	s := startServer(t, Config{Observer: obs, MaxConnections: 1}, h)
	c := dialRaw(t, s.Addr(), "observed")
	var sent, received int
	for i := int32(1); i <= 10; i++ {
		var frame []byte
		if i%2 == 0 {
			frame = c.fmt.AppendRequest(nil, produceRequest(9, 0, "t"), i)
		} else {
			frame = c.fmt.AppendRequest(nil, metadataRequest(12, "t"), i)
		}
		sent += len(frame)
		c.write(frame)
	}
	for i := 0; i < 5; i++ {
		_, body, err := c.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		received += 8 + len(body)
	}
	apiVersions := c.fmt.AppendRequest(nil, apiVersionsRequest(3), 11)
	sent += len(apiVersions)
	c.write(apiVersions)
	if _, body, err := c.readFrame(); err != nil {
		t.Fatal(err)
	} else {
		received += 8 + len(body)
	}
	extra := dialRaw(t, s.Addr(), "refused")
	extra.expectClosed()
	_ = c.conn.Close()
	waitFor(t, "the connection to close", 5*time.Second, func() bool { return obs.snapshot().closed == 1 })
	got := obs.snapshot()
	if got.opened != 1 || got.refused != 1 || got.completed[3] != 5 || got.completed[0] != 5 || got.completed[18] != 1 {
		t.Fatalf("observer counts: %+v", got)
	}
	if got.bytesIn != sent || got.bytesOut != received {
		t.Fatalf("bytes in %d (client sent %d), out %d (client read %d)", got.bytesIn, sent, got.bytesOut, received)
	}
	if got.maxLatency <= 0 || got.maxLatency > 5*time.Second {
		t.Fatalf("latency %v", got.maxLatency)
	}
}

// Release runs exactly once per EncodedResponse: after it is written, when
// it is answered on a closed connection, and when its connection closes
// before it could be written.
func TestEncodedResponseReleasedOnce(t *testing.T) {
	var released sync.Map // corr → *atomic.Int32
	encoded := func(corr int32) *EncodedResponse {
		var n atomic.Int32
		released.Store(corr, &n)
		body := kmsg.NewPtrMetadataResponse()
		body.Version = 12
		return &EncodedResponse{Response: kmsg.NewPtrMetadataResponse(), Parts: []EncodedPart{{Bytes: body.AppendTo(nil)}},
			Release: func() { n.Add(1) }}
	}
	count := func(corr int32) int32 {
		v, ok := released.Load(corr)
		if !ok {
			return -1
		}
		return v.(*atomic.Int32).Load()
	}
	h := &heldRequests{}
	s := startServer(t, Config{}, h)

	// Written: released after the write.
	c := dialRaw(t, s.Addr(), "release")
	c.send(metadataRequest(12, "a"), 1)
	waitFor(t, "request held", 5*time.Second, func() bool { held, _ := h.count(); return held == 1 })
	h.mu.Lock()
	r := h.held[0]
	h.held = nil
	h.mu.Unlock()
	r.respond(encoded(1))
	if resp := c.readResponse(metadataRequest(12, "a"), 1); resp == nil {
		t.Fatal("no response")
	}
	waitFor(t, "written response released", 5*time.Second, func() bool { return count(1) == 1 })

	// Answered while an earlier request blocks the head, then the
	// connection closes: released by the close; a late answer after the
	// close is released at once.
	c2 := dialRaw(t, s.Addr(), "release-2")
	c2.send(metadataRequest(12, "head"), 1)
	c2.send(metadataRequest(12, "second"), 2)
	c2.send(metadataRequest(12, "third"), 3)
	waitFor(t, "requests held", 5*time.Second, func() bool { held, _ := h.count(); return held == 3 })
	h.mu.Lock()
	head, second, third := h.held[0], h.held[1], h.held[2]
	h.held = nil
	h.mu.Unlock()
	second.respond(encoded(2))
	c2.conn.Close()
	waitFor(t, "queued response released on close", 5*time.Second, func() bool { return count(2) == 1 })
	third.respond(encoded(3))
	head.respond(encoded(4))
	for corr := int32(2); corr <= 4; corr++ {
		if got := count(corr); got != 1 {
			t.Fatalf("response %d released %d times", corr, got)
		}
	}
	if got := count(1); got != 1 {
		t.Fatalf("response 1 released %d times", got)
	}
}

// appendingPart is a From part that can also copy itself, and records which
// way it was written.
type appendingPart struct {
	data               []byte
	wrote, appended    int
	appendShortByBytes int
}

func (p *appendingPart) WriteTo(w io.Writer) (int64, error) {
	p.wrote++
	n, err := w.Write(p.data)
	return int64(n), err
}

func (p *appendingPart) AppendTo(dst []byte) ([]byte, error) {
	p.appended++
	return append(dst, p.data[:len(p.data)-p.appendShortByBytes]...), nil
}

// countingWriter counts Write calls.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// A small From part that can copy itself is copied into the frame buffer (a
// frame of small parts is one write); a large one is written on its own; one
// that copies fewer bytes than announced fails the frame.
func TestSmallFromPartsAreCopied(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partBytes  int
		wantCopied bool
	}{{"small", 300, true}, {"at the limit", copyFromBytes, true}, {"large", copyFromBytes + 1, false}} {
		part := &appendingPart{data: bytes.Repeat([]byte{'r'}, tc.partBytes)}
		enc := &EncodedResponse{Response: kmsg.NewPtrFetchResponse(), Parts: []EncodedPart{
			{Bytes: []byte("head")}, {From: part, FromBytes: int64(len(part.data))}, {Bytes: []byte("tail")},
		}}
		var w countingWriter
		fw := frameWriter{w: &w, pool: newBufferPool(1<<20, true)}
		if err := fw.appendResponse(7, enc); err != nil {
			t.Fatal(err)
		}
		if err := fw.flush(); err != nil {
			t.Fatal(err)
		}
		fw.release()
		want := append(append([]byte("head"), part.data...), "tail"...)
		if got := w.Bytes(); !bytes.Equal(got[len(got)-len(want):], want) {
			t.Fatalf("%s: frame ends %q, want the parts", tc.name, got[len(got)-len(want):])
		}
		if copied := part.appended == 1 && part.wrote == 0 && w.writes == 1; copied != tc.wantCopied {
			t.Fatalf("%s: appended %d, wrote %d, %d writes; want copied %v", tc.name, part.appended, part.wrote, w.writes, tc.wantCopied)
		}
	}
	short := &appendingPart{data: []byte("records"), appendShortByBytes: 1}
	fw := frameWriter{w: io.Discard}
	enc := &EncodedResponse{Response: kmsg.NewPtrFetchResponse(), Parts: []EncodedPart{{From: short, FromBytes: int64(len(short.data))}}}
	if err := fw.appendResponse(8, enc); err == nil {
		t.Fatal("a part copying fewer bytes than announced did not fail the frame")
	}
}

// bufferedPart is a large From part whose bytes are in memory, in chunks
// (PartBuffers); inMemory false makes it say they are not.
type bufferedPart struct {
	chunks   [][]byte
	inMemory bool
	wrote    int
}

func (p *bufferedPart) WriteTo(w io.Writer) (int64, error) {
	p.wrote++
	var n int64
	for _, c := range p.chunks {
		m, err := w.Write(c)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (p *bufferedPart) AppendBuffers(bufs [][]byte) ([][]byte, bool) {
	if !p.inMemory {
		return bufs, false
	}
	return append(bufs, p.chunks...), true
}

func (p *bufferedPart) len() int64 {
	var n int64
	for _, c := range p.chunks {
		n += int64(len(c))
	}
	return n
}

// A large From part in memory goes out with the bytes buffered before it in
// one vectored write (here over a real TCP connection), the same bytes as
// the part written on its own; a part announcing other than it holds fails
// the frame.
func TestFromPartsInMemoryGoOutWithTheBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	received := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- nil
			return
		}
		b, _ := io.ReadAll(c)
		received <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	chunk := func(c byte) []byte { return bytes.Repeat([]byte{c}, copyFromBytes) }
	var want bytes.Buffer
	fw := frameWriter{w: conn, pool: newBufferPool(1<<20, true)}
	for corr, inMemory := range []bool{true, false, true} {
		part := &bufferedPart{chunks: [][]byte{chunk('a'), chunk('b')}, inMemory: inMemory}
		enc := &EncodedResponse{Response: kmsg.NewPtrFetchResponse(), Parts: []EncodedPart{
			{Bytes: []byte("head")}, {From: part, FromBytes: part.len()}, {Bytes: []byte("tail")},
		}}
		ref := frameWriter{w: &want}
		refEnc := &EncodedResponse{Response: enc.Response, Parts: []EncodedPart{
			{Bytes: []byte("head")}, {Bytes: bytes.Join(part.chunks, nil)}, {Bytes: []byte("tail")},
		}}
		if err := ref.appendResponse(int32(corr), refEnc); err != nil {
			t.Fatal(err)
		}
		if err := ref.flush(); err != nil {
			t.Fatal(err)
		}
		if err := fw.appendResponse(int32(corr), enc); err != nil {
			t.Fatal(err)
		}
		if wroteItself := part.wrote == 1; wroteItself == inMemory {
			t.Fatalf("response %d: part in memory %v, wrote itself %d times", corr, inMemory, part.wrote)
		}
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	fw.release()
	conn.Close()
	if got := <-received; !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d, or other bytes", len(got), want.Len())
	}
	lying := &bufferedPart{chunks: [][]byte{chunk('c')}, inMemory: true}
	bad := &EncodedResponse{Response: kmsg.NewPtrFetchResponse(), Parts: []EncodedPart{{From: lying, FromBytes: lying.len() + 1}}}
	fw = frameWriter{w: io.Discard}
	if err := fw.appendResponse(9, bad); err == nil {
		t.Fatal("a part holding fewer bytes than announced did not fail the frame")
	}
}

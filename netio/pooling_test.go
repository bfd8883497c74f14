package netio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// These tests run the server with pooled request frames in poisoning mode.
// Every Produce request carries records whose bytes follow from its client
// id and correlation id, so whoever holds them can check they are still the
// request's own: a frame handed out again while referenced would hold another
// request's bytes or the poison, and, under the race detector, the reader
// filling it would race with the goroutine reading it.

// recordsFor is the content of the records of one request: a size from a
// spread that covers small frames, frames read straight from the socket and
// frames above frameWholeBytes, filled with a pattern of the ids.
func recordsFor(clientID string, corr int32) []byte {
	sizes := []int{0, 17, 300, 2_000, 9_000, 40_000, 150_000, 700_000}
	n := sizes[int(corr)%len(sizes)]
	if corr%97 == 13 {
		n = frameWholeBytes + 300_000 // grows as it arrives, or a pooled buffer
	}
	b := make([]byte, n)
	seed := uint32(corr)*2654435761 ^ uint32(len(clientID))<<24
	for _, c := range []byte(clientID) {
		seed = seed*31 + uint32(c)
	}
	for i := range b {
		seed = seed*1664525 + 1013904223
		b[i] = byte(seed >> 24)
	}
	return b
}

// The ways a handler holds a pooled frame, chosen by correlation id.
const (
	// holdDuringHandle: respond inside Handle, then read the records,
	// still in Handle, without Retain.
	holdDuringHandle = iota
	// holdRespondFirst: Retain, respond at once, read and release later
	// on another goroutine.
	holdRespondFirst
	// holdReleaseFirst: Retain, then on another goroutine read, release,
	// read again (respond's reference still holds the frame), respond.
	holdReleaseFirst
	// holdAcks0: Retain, respond(nil) at once as the router does for
	// acks=0, then append (read) and release later.
	holdAcks0
	// holdTwoGoroutines: two Retains handed to two goroutines, which
	// release in either order; respond from a third.
	holdTwoGoroutines
	holdModes
)

// poolChecker is a handler that holds frames in the ways above and checks
// the records whenever it reads them.
type poolChecker struct {
	t       *testing.T
	pending sync.WaitGroup
	checks  atomic.Int64
	held    chan func() // holdManual: release functions for the test to call
	manual  atomic.Bool
}

func (h *poolChecker) Handle(req *Request, respond func(kmsg.Response)) {
	body := req.Body.(*kmsg.ProduceRequest)
	records := body.Topics[0].Partitions[0].Records
	want := recordsFor(req.Header.ClientID, req.Header.CorrelationID)
	check := func(when string) {
		h.checks.Add(1)
		if !bytes.Equal(records, want) {
			at := 0
			for at < min(len(records), len(want)) && records[at] == want[at] {
				at++
			}
			h.t.Errorf("%s correlation id %d, %s: records differ at byte %d of %d (got %d bytes)",
				req.Header.ClientID, req.Header.CorrelationID, when, at, len(want), len(records))
		}
	}
	resp := body.ResponseKind()
	if h.manual.Load() {
		release := req.Retain()
		check("retained")
		h.held <- func() {
			check("after connection close")
			release()
			respond(resp) // after close: harmless
		}
		return
	}
	mode := int(req.Header.CorrelationID) % holdModes
	h.pending.Add(1)
	later := func(f func()) {
		go func() {
			defer h.pending.Done()
			runtime.Gosched() // let the reader move on to the next frames
			f()
		}()
	}
	switch mode {
	case holdDuringHandle:
		respond(resp)
		check("after respond, in Handle")
		h.pending.Done()
	case holdRespondFirst:
		release := req.Retain()
		respond(resp)
		later(func() { check("after respond"); release() })
	case holdReleaseFirst:
		release := req.Retain()
		later(func() {
			check("before release")
			release()
			check("released, not yet responded")
			respond(resp)
		})
	case holdAcks0:
		release := req.Retain()
		respond(nil)
		later(func() { check("after respond(nil)"); release() })
	case holdTwoGoroutines:
		r1, r2 := req.Retain(), req.Retain()
		h.pending.Add(2)
		go func() { defer h.pending.Done(); check("first holder"); r1() }()
		go func() { defer h.pending.Done(); runtime.Gosched(); check("second holder"); r2() }()
		later(func() { respond(resp) })
	}
}

// answered reports whether a request of correlation id corr gets a response.
func answered(corr int32) bool { return int(corr)%holdModes != holdAcks0 }

// produceFrame is the frame of a Produce request carrying recordsFor's bytes.
func produceFrame(f *kmsg.RequestFormatter, clientID string, corr int32) []byte {
	req := produceRequest(9, 1, "pool-topic")
	req.Topics[0].Partitions[0].Records = recordsFor(clientID, corr)
	return f.AppendRequest(nil, req, corr)
}

// pipelineProduce writes n Produce requests on one connection as fast as it
// can (in flight up to the server's bound) and reads the answers, checking
// their order.
func pipelineProduce(t *testing.T, addr net.Addr, clientID string, n int) {
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	writeErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		for corr := int32(0); corr < int32(n); corr++ {
			if _, err := w.Write(produceFrame(f, clientID, corr)); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- w.Flush()
	}()
	r := bufio.NewReader(conn)
	for corr := int32(0); corr < int32(n); corr++ {
		if !answered(corr) {
			continue
		}
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			t.Errorf("%s: response %d: %v", clientID, corr, err)
			return
		}
		if got := int32(binary.BigEndian.Uint32(head[4:])); got != corr {
			t.Errorf("%s: correlation id %d, want %d", clientID, got, corr)
			return
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint32(head[:4])) - 4); err != nil {
			t.Errorf("%s: response %d: %v", clientID, corr, err)
			return
		}
	}
	if err := <-writeErr; err != nil {
		t.Errorf("%s: write: %v", clientID, err)
	}
}

func pooledConfig() Config {
	return Config{PoolRequestBuffers: true, PoisonReleasedBuffers: true, MaxInFlightRequests: 16}
}

// Pipelined requests on several connections, each frame held in one of the
// ways a handler may: no frame is handed out again while referenced.
func TestPooledFramesNeverReusedWhileReferenced(t *testing.T) {
	h := &poolChecker{t: t}
	s := startServer(t, pooledConfig(), h)
	const conns, perConn = 4, 200
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipelineProduce(t, s.Addr(), "pooled-"+strconv.Itoa(i), perConn)
		}()
	}
	wg.Wait()
	h.pending.Wait()
	if got := h.checks.Load(); got < conns*perConn {
		t.Fatalf("%d checks for %d requests", got, conns*perConn)
	}
	st := s.pool.stats()
	if st.reuses == 0 || st.keptBytes == 0 {
		t.Fatalf("the pool was not exercised: %+v", st)
	}
	t.Logf("pool: %d buffers handed out, %d reused, %d bytes kept", st.gets, st.reuses, st.keptBytes)
}

// Frames retained when their connection closes stay valid until released,
// while new connections go on taking buffers from the pool.
func TestPooledFramesSurviveConnectionClose(t *testing.T) {
	h := &poolChecker{t: t, held: make(chan func(), 64)}
	h.manual.Store(true)
	s := startServer(t, pooledConfig(), h)
	c := dialRaw(t, s.Addr(), "closing")
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("closing"))
	const held = 12
	for corr := int32(0); corr < held; corr++ {
		c.write(produceFrame(f, "closing", corr))
	}
	var releases []func()
	for len(releases) < held {
		select {
		case r := <-h.held:
			releases = append(releases, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d requests reached the handler", len(releases), held)
		}
	}
	_ = c.conn.Close()
	waitFor(t, "the connection to close", 5*time.Second, func() bool { return s.OpenConnections() == 0 })

	// New traffic takes buffers from the pool meanwhile.
	h.manual.Store(false)
	pipelineProduce(t, s.Addr(), "after-close", 60)
	h.pending.Wait()
	for _, release := range releases {
		release()
	}
}

// Sequential requests reuse one frame buffer: a frame goes back to the pool
// once its response is written.
func TestPooledFramesReturnToPool(t *testing.T) {
	s := startServer(t, pooledConfig(), handlerFunc(func(req *Request, respond func(kmsg.Response)) {
		respond(req.Body.ResponseKind())
	}))
	c := dialRaw(t, s.Addr(), "sequential")
	const n = 20
	for corr := int32(0); corr < n; corr++ {
		c.roundTrip(metadataRequest(12, "t"), corr)
	}
	// The frame of the last request may be released just after its
	// response was read.
	if st := s.pool.stats(); st.reuses < n-2 {
		t.Fatalf("%d sequential requests reused %d buffers", n, st.reuses)
	}
}

// A handler that keeps a frame for good may Retain and never release; the
// frame is then never reused.
func TestRetainedForGoodIsNeverReused(t *testing.T) {
	var mu sync.Mutex
	var kept [][]byte
	s := startServer(t, pooledConfig(), handlerFunc(func(req *Request, respond func(kmsg.Response)) {
		if p, ok := req.Body.(*kmsg.ProduceRequest); ok {
			req.Retain() // never released
			mu.Lock()
			kept = append(kept, p.Topics[0].Partitions[0].Records)
			mu.Unlock()
		}
		respond(req.Body.ResponseKind())
	}))
	c := dialRaw(t, s.Addr(), "keeper")
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("keeper"))
	for corr := int32(0); corr < 10; corr++ {
		c.write(produceFrame(f, "keeper", corr*holdModes)) // small frames
		c.readResponse(produceRequest(9, 1, ""), corr*holdModes)
		c.roundTrip(metadataRequest(12, "t"), 1000+corr)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, records := range kept {
		if want := recordsFor("keeper", int32(i*holdModes)); !bytes.Equal(records, want) {
			t.Fatalf("kept records %d were overwritten", i)
		}
	}
}

// Responses encoded into a Request.ResponseBuffer go back to the pool; the
// writer's own buffer comes from the pool too.
func TestResponseBufferReturnsToPool(t *testing.T) {
	s := startServer(t, pooledConfig(), handlerFunc(func(req *Request, respond func(kmsg.Response)) {
		resp := req.Body.ResponseKind()
		buf := resp.AppendTo(req.ResponseBuffer(4096))
		respond(&EncodedResponse{Response: resp, Parts: []EncodedPart{{Bytes: buf}}, Buffer: buf})
	}))
	c := dialRaw(t, s.Addr(), "encoded")
	for corr := int32(0); corr < 10; corr++ {
		resp := c.roundTrip(metadataRequest(12, "t"), corr).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 0 {
			t.Fatalf("response %d: %+v", corr, resp)
		}
	}
	if st := s.pool.stats(); st.reuses < 9 {
		t.Fatalf("response buffers were not reused: %+v", st)
	}
}

// Bad input with pooled frames: the frame goes back, the connection closes,
// and the server goes on serving others.
func TestPooledFrameOfBadRequest(t *testing.T) {
	s := startServer(t, pooledConfig(), &poolChecker{t: t})
	c := dialRaw(t, s.Addr(), "bad")
	frame := produceFrame(kmsg.NewRequestFormatter(kmsg.FormatterClientID("bad")), "bad", 1)
	binary.BigEndian.PutUint16(frame[6:], 99) // version 99
	c.write(frame)
	c.expectClosed()
	pipelineProduce(t, s.Addr(), "good", 10)
	if t.Failed() {
		return
	}
	if st := s.pool.stats(); st.reuses == 0 {
		t.Fatalf("the bad request's frame was not reused: %+v", st)
	}
}

func TestRecordsForDiffer(t *testing.T) {
	// The check above is only as good as the patterns are distinct.
	a, b := recordsFor("x", 9), recordsFor("y", 9)
	if bytes.Equal(a, b) || strings.Contains(fmt.Sprint(a[:8]), fmt.Sprint(b[:8])) {
		t.Fatalf("records of two clients are alike")
	}
}

// A response may alias its own request's frame: the frame stays valid until
// the response is written, not just until respond.
func TestResponseMayAliasItsRequest(t *testing.T) {
	s := startServer(t, pooledConfig(), handlerFunc(func(req *Request, respond func(kmsg.Response)) {
		records := req.Body.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records
		respond(&EncodedResponse{Response: req.Body.ResponseKind(), Parts: []EncodedPart{{Bytes: records}}})
	}))
	c := dialRaw(t, s.Addr(), "echo")
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("echo"))
	for corr := int32(0); corr < 40; corr++ {
		c.write(produceFrame(f, "echo", corr))
	}
	for corr := int32(0); corr < 40; corr++ {
		got, body, err := c.readFrame()
		if err != nil || got != corr {
			t.Fatalf("response %d: correlation id %d, %v", corr, got, err)
		}
		// Produce v9 is flexible: one byte of header tags.
		if want := recordsFor("echo", corr); !bytes.Equal(body[1:], want) {
			t.Fatalf("response %d does not echo its request's %d bytes", corr, len(want))
		}
	}
}

package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions are the highest both sides serve, per key: the peer's maximum, or
// the client's cap when lower. A key the peer does not serve fails at once
// and leaves the connection usable.
func TestClientNegotiatesVersionsWithServer(t *testing.T) {
	s := startServer(t, Config{}, &memoryHandler{})
	c := newTestClient(t, s.Addr().String(), ClientConfig{
		APIVersions: []APIVersionRange{{APIKey: 3, MinVersion: 0, MaxVersion: 9}},
	})
	resp := roundTripMetadata(t, c, "t")
	if v := resp.Body.GetVersion(); v != 9 {
		t.Fatalf("Metadata sent at v%d, want the client's cap v9", v)
	}
	ctx := testContext(t, 10*time.Second)
	pr, err := c.RoundTrip(ctx, produceRequest(3, 1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	if v := pr.Body.GetVersion(); v != 12 {
		t.Fatalf("Produce sent at v%d, want the server's max v12", v)
	}

	start := time.Now()
	_, err = c.RoundTrip(ctx, kmsg.NewPtrBrokerRegistrationRequest())
	if !errors.Is(err, ErrNotServedByPeer) || IsRetriable(err) || !strings.Contains(err.Error(), "BrokerRegistration") {
		t.Fatalf("BrokerRegistration to a peer without it: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("failing an unserved key took %v", time.Since(start))
	}
	roundTripMetadata(t, c, "after")
	if n := s.OpenConnections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	// A client range that does not meet the server's fails the same way.
	c2 := newTestClient(t, s.Addr().String(), ClientConfig{
		APIVersions: []APIVersionRange{{APIKey: 0, MinVersion: 0, MaxVersion: 2}},
	})
	if _, err := c2.RoundTrip(ctx, produceRequest(3, 1, "t")); !errors.Is(err, ErrNotServedByPeer) {
		t.Fatalf("Produce v0..v2 to a v3..v12 server: %v", err)
	}
}

// A peer that does not serve our ApiVersions version answers
// UNSUPPORTED_VERSION; the client asks again at the peer's version.
func TestClientApiVersionsDowngrade(t *testing.T) {
	s := startServer(t, Config{APIVersions: append([]APIVersionRange{{APIKey: 18, MinVersion: 0, MaxVersion: 2}}, testVersions...)}, &memoryHandler{})
	c := newTestClient(t, s.Addr().String(), ClientConfig{})
	roundTripMetadata(t, c, "t")
}

// Requests from many goroutines are pipelined on one connection, answered
// out of order by the handler, and each completion gets its own response.
func TestClientPipelinesInOrder(t *testing.T) {
	h := &memoryHandler{maxDelay: 2 * time.Millisecond}
	s := startServer(t, Config{MaxInFlightRequests: 64}, h)
	const senders, perSender = 8, 200
	c := newTestClient(t, s.Addr().String(), ClientConfig{MaxInFlightRequests: 32, MaxQueuedRequests: senders * perSender})
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			chans := make([]<-chan outcome, perSender)
			for i := range perSender {
				chans[i] = sendAsync(t, c, metadataRequest(0, fmt.Sprintf("t-%d-%d", g, i)), 0)
			}
			for i, ch := range chans {
				o := await(t, ch)
				want := fmt.Sprintf("t-%d-%d", g, i)
				switch {
				case o.err != nil:
					errs <- o.err
				case metadataTopic(o.resp.Body) != want:
					errs <- fmt.Errorf("response for %s answered %s", want, metadataTopic(o.resp.Body))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.OpenConnections(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

// At most MaxInFlightRequests are on the wire: the rest wait in the client,
// and all complete in order once answered.
func TestClientBoundsInFlight(t *testing.T) {
	h := newParkingHandler()
	s := startServer(t, Config{}, h)
	const bound, requests = 4, 20
	c := newTestClient(t, s.Addr().String(), ClientConfig{MaxInFlightRequests: bound})
	chans := make([]<-chan outcome, requests)
	for i := range requests {
		chans[i] = sendAsync(t, c, metadataRequest(0, fmt.Sprintf("park-%d", i)), 0)
	}
	h.waitParked(t, bound)
	for answered := 0; answered < requests; {
		if h.release() {
			answered++
			continue
		}
		<-h.notify
	}
	for i, ch := range chans {
		o := await(t, ch)
		if o.err != nil || metadataTopic(o.resp.Body) != fmt.Sprintf("park-%d", i) {
			t.Fatalf("request %d: %v", i, o.err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxHeld != bound {
		t.Fatalf("the server held %d requests at once, want the bound %d", h.maxHeld, bound)
	}
}

// A request that times out on the wire fails with ErrRequestTimeout and
// closes its connection: the requests behind it fail as retriable, one still
// queued times out by itself, and the next request reconnects.
func TestClientTimeouts(t *testing.T) {
	h := newParkingHandler()
	s := startServer(t, Config{}, h)
	c := newTestClient(t, s.Addr().String(), ClientConfig{MaxInFlightRequests: 2})
	roundTripMetadata(t, c, "warm-up")

	stuck := sendAsync(t, c, metadataRequest(0, "park-stuck"), 300*time.Millisecond)
	behind := sendAsync(t, c, metadataRequest(0, "park-behind"), 10*time.Second)
	h.waitParked(t, 2)
	queued := sendAsync(t, c, metadataRequest(0, "queued"), 50*time.Millisecond)
	start := time.Now()
	checkRetriable(t, await(t, queued).err, ErrRequestTimeout)
	checkRetriable(t, await(t, stuck).err, ErrRequestTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeouts took %v", d)
	}
	checkRetriable(t, await(t, behind).err, ErrConnectionFailed)
	roundTripMetadata(t, c, "after")
	waitFor(t, "the timed-out connection to close", 10*time.Second, func() bool { return s.OpenConnections() == 1 })
}

// When the server dies, requests on the wire fail as retriable; while it is
// down, requests fail at the next dial; once it is back, the client
// reconnects by itself.
func TestClientServerDeathAndReconnect(t *testing.T) {
	h := newParkingHandler()
	s := startServer(t, Config{}, h)
	addr := s.Addr().String()
	c := newTestClient(t, addr, ClientConfig{ReconnectBackoffMs: 5, ReconnectBackoffMaxMs: 20})
	roundTripMetadata(t, c, "before")
	parked := sendAsync(t, c, metadataRequest(0, "park-1"), 0)
	h.waitParked(t, 1)
	_ = s.Close()
	checkRetriable(t, await(t, parked).err, ErrConnectionFailed)

	ctx := testContext(t, 10*time.Second)
	_, err := c.RoundTrip(ctx, metadataRequest(0, "while-down"))
	checkRetriable(t, err, ErrConnectionFailed)

	cfg := Config{Address: addr}
	s2 := startServer(t, cfg, &memoryHandler{})
	waitFor(t, "the client to reconnect", 10*time.Second, func() bool {
		resp, err := c.RoundTrip(ctx, metadataRequest(0, "after"))
		return err == nil && metadataTopic(resp.Body) == "after"
	})
	if n := s2.OpenConnections(); n != 1 {
		t.Fatalf("%d connections to the new server, want 1", n)
	}
}

// largeFetchHandler answers every Fetch with one partition of n bytes of a
// pattern.
type largeFetchHandler struct{ n int }

func (h largeFetchHandler) Handle(req *Request, respond func(kmsg.Response)) {
	resp := req.Body.ResponseKind().(*kmsg.FetchResponse)
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "big"
	p := kmsg.NewFetchResponseTopicPartition()
	p.HighWatermark = int64(h.n)
	p.RecordBatches = make([]byte, h.n)
	for i := range p.RecordBatches {
		p.RecordBatches[i] = byte(i * 7)
	}
	topic.Partitions = append(topic.Partitions, p)
	resp.Topics = append(resp.Topics, topic)
	respond(resp)
}

// A large response is read into one pooled buffer; its record bytes alias
// it, stay valid until released, and the buffer is reused afterwards.
func TestClientLargeResponseAliasesPooledFrame(t *testing.T) {
	const size = 24 << 20
	s := startServer(t, Config{APIVersions: []APIVersionRange{{APIKey: 1, MinVersion: 4, MaxVersion: 12}}}, largeFetchHandler{size})
	c := newTestClient(t, s.Addr().String(), ClientConfig{PoolResponseBuffers: true, PoisonReleasedBuffers: true, BufferPoolBytes: 64 << 20})
	ctx := testContext(t, 2*time.Minute)
	for round := range 3 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = 2
		resp, err := c.RoundTrip(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if v := resp.Body.GetVersion(); v != 12 {
			t.Fatalf("Fetch v%d, want v12", v)
		}
		records := resp.Body.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
		if len(records) != size {
			t.Fatalf("%d record bytes, want %d", len(records), size)
		}
		for i := 0; i < size; i += 4093 {
			if records[i] != byte(i*7) {
				t.Fatalf("round %d: byte %d is %#x", round, i, records[i])
			}
		}
		frame := resp.frame.buf
		first := uintptr(unsafe.Pointer(&records[0]))
		if lo := uintptr(unsafe.Pointer(&frame[0])); first < lo || first+size > lo+uintptr(cap(frame)) {
			t.Fatal("the record bytes were copied out of the frame")
		}
		release := resp.Retain()
		resp.Release()
		if want := size - 1; records[want] != byte(want*7) {
			t.Fatal("retained bytes changed")
		}
		release()
		if records[0] != poisonByte {
			t.Fatal("the frame did not return to the pool")
		}
	}
	if st := c.pool.stats(); st.reuses == 0 {
		t.Fatalf("no frame reused: %+v", st)
	}
}

// Produce with acks=0 has no response: its completion comes once written,
// and the requests around it keep their responses.
func TestClientAcksZero(t *testing.T) {
	h := &memoryHandler{}
	s := startServer(t, Config{}, h)
	c := newTestClient(t, s.Addr().String(), ClientConfig{})
	first := sendAsync(t, c, metadataRequest(0, "first"), 0)
	acks0 := sendAsync(t, c, produceRequest(9, 0, "t"), 0)
	last := sendAsync(t, c, metadataRequest(0, "last"), 0)
	if o := await(t, acks0); o.err != nil || o.resp != nil {
		t.Fatalf("acks=0: %+v", o)
	}
	if o := await(t, first); o.err != nil || metadataTopic(o.resp.Body) != "first" {
		t.Fatalf("first: %+v", o)
	}
	if o := await(t, last); o.err != nil || metadataTopic(o.resp.Body) != "last" {
		t.Fatalf("last: %+v", o)
	}
	waitFor(t, "the acks=0 batch to arrive", 10*time.Second, func() bool { return h.producedPartitions() == 1 })
}

// Send refuses what exceeds the queue; Close fails what waits and refuses
// what comes after; the client's goroutines end.
func TestClientQueueBoundAndClose(t *testing.T) {
	h := newParkingHandler()
	s := startServer(t, Config{}, h)
	c := newTestClient(t, s.Addr().String(), ClientConfig{MaxInFlightRequests: 1, MaxQueuedRequests: 2})
	onWire := sendAsync(t, c, metadataRequest(0, "park-1"), 0)
	h.waitParked(t, 1)
	q1 := sendAsync(t, c, metadataRequest(0, "q1"), 0)
	q2 := sendAsync(t, c, metadataRequest(0, "q2"), 0)
	err := c.Send(metadataRequest(0, "q3"), 0, func(*Response, error) { t.Error("refused request completed") })
	checkRetriable(t, err, ErrQueueFull)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan outcome{onWire, q1, q2} {
		if o := await(t, ch); !errors.Is(o.err, ErrClientClosed) {
			t.Fatalf("after Close: %v", o.err)
		}
	}
	if err := c.Send(metadataRequest(0, "late"), 0, func(*Response, error) {}); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	waitNoGoroutines(t, "netio.(*Client)", "netio.(*clientConn)")
}

// Close interrupts a dial that hangs in the ApiVersions exchange.
func TestClientCloseDuringConnect(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err == nil {
			accepted <- nc // never answers
		}
	}()
	c := newTestClient(t, l.Addr().String(), ClientConfig{})
	ch := sendAsync(t, c, metadataRequest(0, "t"), 0)
	nc := <-accepted
	defer nc.Close()
	_ = c.Close()
	if o := await(t, ch); !errors.Is(o.err, ErrClientClosed) {
		t.Fatalf("request of a closed client: %v", o.err)
	}
	waitNoGoroutines(t, "netio.(*Client)", "netio.(*clientConn)")
}

// faultyDialer wraps connections so that the test can cut them.
type faultyDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *faultyDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, nc)
		d.mu.Unlock()
	}
	return nc, err
}

func (d *faultyDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, nc := range d.conns {
		_ = nc.Close()
	}
	d.conns = nil
}

// Many senders, random service times, short timeouts and connections cut
// under them: every accepted request completes exactly once, with its own
// response or a retriable error. Run it with -race.
func TestClientConcurrentChaos(t *testing.T) {
	h := &memoryHandler{maxDelay: 3 * time.Millisecond}
	s := startServer(t, Config{}, h)
	d := &faultyDialer{}
	c := newTestClient(t, s.Addr().String(), ClientConfig{
		MaxInFlightRequests: 16, MaxQueuedRequests: 64, ReconnectBackoffMs: 1, ReconnectBackoffMaxMs: 5, Dial: d.dial,
	})
	const senders, perSender, window = 6, 300, 10
	var accepted, completed, succeeded atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders*perSender)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{}, window)
			for i := range perSender {
				if i >= window {
					<-done // at most window requests of this sender pending
				}
				topic := fmt.Sprintf("c-%d-%d", g, i)
				var once atomic.Bool
				timeout := 50*time.Millisecond + time.Duration(i%5)*20*time.Millisecond
				if i%17 == 0 {
					timeout = time.Millisecond
				}
				err := c.Send(metadataRequest(0, topic), timeout, func(resp *Response, err error) {
					if once.Swap(true) {
						errs <- fmt.Errorf("%s completed twice", topic)
					}
					completed.Add(1)
					switch {
					case err == nil && metadataTopic(resp.Body) == topic:
						succeeded.Add(1)
					case err == nil:
						errs <- fmt.Errorf("%s answered for %s", topic, metadataTopic(resp.Body))
					case !IsRetriable(err):
						errs <- fmt.Errorf("%s: not retriable: %w", topic, err)
					}
					done <- struct{}{}
				})
				switch {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrQueueFull):
					done <- struct{}{}
				default:
					errs <- err
					done <- struct{}{}
				}
				if i%50 == 25 && g == 0 {
					d.cutAll()
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every accepted request to complete", 20*time.Second, func() bool { return completed.Load() == accepted.Load() })
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if succeeded.Load() == 0 {
		t.Fatal("no request succeeded")
	}
	t.Logf("%d accepted, %d succeeded", accepted.Load(), succeeded.Load())
	roundTripMetadata(t, c, "after-chaos")
}

// Clients given one ResponsePool read into the buffers released by those
// before them: a client that replaces a closed one (a replica fetcher
// started again) takes the frame the first one read, not a fresh one.
func TestClientsShareAResponsePool(t *testing.T) {
	const size = 2 << 20
	s := startServer(t, Config{APIVersions: []APIVersionRange{{APIKey: 1, MinVersion: 4, MaxVersion: 12}}}, largeFetchHandler{size})
	pool := NewBufferPool(64<<20, true)
	ctx := testContext(t, 2*time.Minute)
	var frames []*byte
	for round := range 2 {
		c := newTestClient(t, s.Addr().String(), ClientConfig{PoolResponseBuffers: true, ResponsePool: pool})
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = 2
		resp, err := c.RoundTrip(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		records := resp.Body.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
		if last := size - 1; len(records) != size || records[last] != byte(last*7) {
			t.Fatalf("round %d: %d record bytes, or the last one wrong", round, len(records))
		}
		frames = append(frames, &resp.frame.buf[0])
		resp.Release()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if frames[0] != frames[1] {
		t.Error("the second client read into a fresh buffer, not the one the first released")
	}
	// Each client reads two frames: its ApiVersions answer and the Fetch's.
	if st := pool.p.stats(); st.gets != 4 || st.reuses != 2 {
		t.Errorf("pool stats %+v, want the second client's 2 frames of 4 reused", st)
	}
}

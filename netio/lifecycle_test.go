package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count open file descriptors: %v", err)
	}
	return len(entries)
}

// shortConnection opens a connection, uses it in one of three ways, and
// closes it: a full ApiVersions round trip, nothing at all, or half a frame.
func shortConnection(addr net.Addr, kind int) error {
	conn, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("short")).AppendRequest(nil, apiVersionsRequest(3), 1)
	switch kind {
	case 0:
		if _, err := conn.Write(frame); err != nil {
			return err
		}
		resp := make([]byte, 4)
		if _, err := conn.Read(resp); err != nil {
			return fmt.Errorf("read response: %w", err)
		}
	case 1:
	case 2:
		if _, err := conn.Write(frame[:len(frame)/2]); err != nil {
			return err
		}
	}
	return nil
}

// waitForBaseline waits until the server has no connection and the process
// is back to its goroutines and file descriptors of before.
func waitForBaseline(t *testing.T, s *Server, goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		open, g, f := 0, runtime.NumGoroutine(), openFDs(t)
		if s != nil {
			open = s.OpenConnections()
		}
		if open == 0 && g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("left behind: %d connections, goroutines %d (baseline %d), fds %d (baseline %d)\n%s",
				open, g, goroutines, f, fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// 1,000 connections opened and closed leave no goroutine and no file
// descriptor behind.
func TestThousandConnectionsLeaveNothingBehind(t *testing.T) {
	s := startServer(t, Config{}, &memoryHandler{})
	if err := shortConnection(s.Addr(), 0); err != nil { // warm up the runtime's poller
		t.Fatal(err)
	}
	waitFor(t, "warm-up connection to close", 5*time.Second, func() bool { return s.OpenConnections() == 0 })
	// No garbage collection: finalizers would close leaked descriptors.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	const connections, parallel = 1000, 32
	errs := make(chan error, connections)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < connections; i += parallel {
				if err := shortConnection(s.Addr(), i%3); err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitForBaseline(t, s, goroutines, fds)
}

// Close with connections open and requests held by the handler ends every
// goroutine of the server and cancels the requests' contexts.
func TestCloseLeavesNothingBehind(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	h := &heldRequests{}
	logger, _ := testLogger(t)
	s, err := NewServer(Config{Address: "127.0.0.1:0", APIVersions: testVersions}, h, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var clients []*rawClient
	for i := 0; i < 50; i++ {
		c := dialRaw(t, s.Addr(), "held")
		c.send(metadataRequest(12, "x"), 1)
		clients = append(clients, c)
	}
	waitFor(t, "all requests held", 10*time.Second, func() bool { _, received := h.count(); return received == 50 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.expectClosed()
		_ = c.conn.Close()
	}
	waitFor(t, "request contexts cancelled", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.cancelled == 50
	})
	waitForBaseline(t, nil, goroutines, fds)
	if err := s.Serve(mustListen(t)); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A connection beyond max.connections is closed at once; when one closes,
// a new one is served.
func TestMaxConnections(t *testing.T) {
	s := startServer(t, Config{MaxConnections: 2}, &memoryHandler{})
	first := dialRaw(t, s.Addr(), "first")
	first.roundTrip(apiVersionsRequest(3), 1)
	second := dialRaw(t, s.Addr(), "second")
	second.roundTrip(apiVersionsRequest(3), 1)
	third := dialRaw(t, s.Addr(), "third")
	third.send(apiVersionsRequest(3), 1)
	third.expectClosed()
	second.roundTrip(apiVersionsRequest(3), 2)

	_ = first.conn.Close()
	waitFor(t, "the first connection to be gone", 5*time.Second, func() bool { return s.OpenConnections() == 1 })
	fourth := dialRaw(t, s.Addr(), "fourth")
	fourth.roundTrip(apiVersionsRequest(3), 1)
}

// connections.max.idle.ms closes a connection with no traffic and nothing in
// flight; traffic, or a request in flight, keeps it open.
func TestIdleTimeout(t *testing.T) {
	// Long enough that a loaded machine's scheduling stalls stay well
	// within it between the busy connection's requests.
	const idle = time.Second
	h := &heldRequests{}
	s := startServer(t, Config{ConnectionsMaxIdleMs: idle.Milliseconds()}, h)

	quiet := dialRaw(t, s.Addr(), "quiet")
	quiet.roundTrip(apiVersionsRequest(3), 1)
	lastActive := time.Now()

	waiting := dialRaw(t, s.Addr(), "waiting")
	waiting.send(metadataRequest(12, "slow"), 1)
	waitFor(t, "the held request", 5*time.Second, func() bool { _, received := h.count(); return received == 1 })

	busy := dialRaw(t, s.Addr(), "busy")
	busyDone := make(chan error, 1)
	go func() {
		// A request every idle/10 for 3 idle periods.
		for i := int32(1); i <= 30; i++ {
			busy.send(apiVersionsRequest(3), i)
			if _, _, err := busy.readFrame(); err != nil {
				busyDone <- err
				return
			}
			time.Sleep(idle / 10) // pacing the traffic, not waiting for a condition
		}
		busyDone <- nil
	}()

	quiet.expectClosed()
	if elapsed := time.Since(lastActive); elapsed < idle-50*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before connections.max.idle.ms %v", elapsed, idle)
	}
	if err := <-busyDone; err != nil {
		t.Fatalf("busy connection: %v", err)
	}
	// The waiting connection has been quiet for longer than idle, but its
	// request is in flight: answering it must still reach the client.
	h.answerOldest()
	waiting.readResponse(metadataRequest(12, ""), 1)
	waiting.expectClosed() // and now, idle with nothing in flight, it goes
}

// Shutdown stops accepting, lets the requests in flight write their
// responses, then closes the connections.
func TestGracefulShutdownDeliversInFlightResponses(t *testing.T) {
	h := &heldRequests{}
	s := startServer(t, Config{}, h)
	c := dialRaw(t, s.Addr(), "in-flight")
	for i := int32(1); i <= 5; i++ {
		c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
	}
	waitFor(t, "five held requests", 5*time.Second, func() bool { held, _ := h.count(); return held == 5 })

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(testContext(t, 10*time.Second)) }()
	addr := s.Addr().String()
	waitFor(t, "the listener to close", 5*time.Second, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			_ = conn.Close()
		}
		return err != nil
	})
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned before the responses: %v", err)
	default:
	}
	for i := 0; i < 5; i++ {
		h.answerOldest()
	}
	for i := int32(1); i <= 5; i++ {
		resp := c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse)
		if want := fmt.Sprintf("topic-%d", i); *resp.Topics[0].Topic != want {
			t.Fatalf("response %d is for %s", i, *resp.Topics[0].Topic)
		}
	}
	c.expectClosed()
	if err := <-shutdownErr; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// Shutdown whose context ends first closes the connections, drops what is in
// flight, cancels the requests' contexts, and returns the context's error.
func TestShutdownDeadline(t *testing.T) {
	h := &heldRequests{}
	s := startServer(t, Config{}, h)
	c := dialRaw(t, s.Addr(), "never-answered")
	c.send(metadataRequest(12, "x"), 1)
	waitFor(t, "the held request", 5*time.Second, func() bool { held, _ := h.count(); return held == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	c.expectClosed()
	waitFor(t, "the request context cancelled", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.cancelled == 1
	})
	answerDefault(h.held[0]) // late answer: ignored
}

// A reader blocked because the in-flight window is full still stops at
// Shutdown, and the window's responses are delivered.
func TestShutdownWithFullWindow(t *testing.T) {
	h := &heldRequests{}
	s := startServer(t, Config{MaxInFlightRequests: 2}, h)
	c := dialRaw(t, s.Addr(), "full")
	for i := int32(1); i <= 4; i++ {
		c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
	}
	waitFor(t, "a full window", 5*time.Second, func() bool { held, _ := h.count(); return held == 2 })
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- s.Shutdown(testContext(t, 10*time.Second)) }()
	h.answerAll()
	if err := <-shutdownErr; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Requests 1 and 2 are answered; 3 and 4 too if they were read before
	// the drain began. In order, then the connection closes.
	for i := int32(1); ; i++ {
		corr, _, err := c.readFrame()
		if err != nil {
			if i <= 2 {
				t.Fatalf("response %d: %v", i, err)
			}
			break
		}
		if corr != i {
			t.Fatalf("correlation id %d, want %d", corr, i)
		}
	}
}

package netio

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// newTestClient returns a client of addr closed when the test ends.
func newTestClient(t testing.TB, addr string, cfg ClientConfig) *Client {
	t.Helper()
	cfg.Address = addr
	if cfg.ClientID == "" {
		cfg.ClientID = "test-client"
	}
	logger, _ := testLogger(t)
	c, err := NewClient(cfg, logger)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// outcome is what a Send's completion got.
type outcome struct {
	resp *Response
	err  error
}

// sendAsync sends req and returns a channel that gets its outcome.
func sendAsync(t testing.TB, c *Client, req kmsg.Request, timeout time.Duration) <-chan outcome {
	t.Helper()
	ch := make(chan outcome, 1)
	if err := c.Send(req, timeout, func(resp *Response, err error) { ch <- outcome{resp, err} }); err != nil {
		t.Fatalf("Send: %v", err)
	}
	return ch
}

// await waits for an outcome.
func await(t testing.TB, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(20 * time.Second):
		t.Fatal("no completion within 20s")
		return outcome{}
	}
}

// metadataTopic is the one topic a Metadata response names, "" if none.
func metadataTopic(resp kmsg.Response) string {
	m, ok := resp.(*kmsg.MetadataResponse)
	if !ok || len(m.Topics) != 1 || m.Topics[0].Topic == nil {
		return ""
	}
	return *m.Topics[0].Topic
}

// roundTripMetadata asks for one topic and checks the answer names it.
func roundTripMetadata(t testing.TB, c *Client, topic string) *Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.RoundTrip(ctx, metadataRequest(0, topic))
	if err != nil {
		t.Fatalf("Metadata %s: %v", topic, err)
	}
	if got := metadataTopic(resp.Body); got != topic {
		t.Fatalf("Metadata for %q answered for %q", topic, got)
	}
	return resp
}

// parkingHandler parks the requests for topics named "park*" until the test
// answers them, and answers the rest at once through memoryHandler.
type parkingHandler struct {
	memoryHandler
	mu      sync.Mutex
	parked  []func()
	maxHeld int
	handled int
	notify  chan struct{}
}

func newParkingHandler() *parkingHandler {
	return &parkingHandler{notify: make(chan struct{}, 1)}
}

func (h *parkingHandler) Handle(req *Request, respond func(kmsg.Response)) {
	h.mu.Lock()
	h.handled++
	h.mu.Unlock()
	m, ok := req.Body.(*kmsg.MetadataRequest)
	if !ok || len(m.Topics) != 1 || m.Topics[0].Topic == nil || !strings.HasPrefix(*m.Topics[0].Topic, "park") {
		h.memoryHandler.Handle(req, respond)
		return
	}
	resp := h.metadata(m)
	h.mu.Lock()
	h.parked = append(h.parked, func() { respond(resp) })
	h.maxHeld = max(h.maxHeld, len(h.parked))
	h.mu.Unlock()
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// waitParked waits until n requests are parked.
func (h *parkingHandler) waitParked(t testing.TB, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d parked requests", n), 10*time.Second, func() bool { return h.parkedCount() >= n })
}

func (h *parkingHandler) parkedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.parked)
}

// release answers the oldest parked request; false when none is parked.
func (h *parkingHandler) release() bool {
	h.mu.Lock()
	if len(h.parked) == 0 {
		h.mu.Unlock()
		return false
	}
	f := h.parked[0]
	h.parked = h.parked[1:]
	h.mu.Unlock()
	f()
	return true
}

// checkRetriable fails unless err is a retriable error of kind want.
func checkRetriable(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || !IsRetriable(err) {
		t.Fatalf("error %v, want a retriable %v", err, want)
	}
}

// waitNoGoroutines waits until no goroutine runs a function whose name
// contains one of frames.
func waitNoGoroutines(t testing.TB, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := goroutineWith(frames)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a goroutine is left after 10s:\n%s", left)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// goroutineWith returns the stack of a goroutine running one of frames.
func goroutineWith(frames []string) string {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		for _, f := range frames {
			if strings.Contains(g, f) {
				return g
			}
		}
	}
	return ""
}

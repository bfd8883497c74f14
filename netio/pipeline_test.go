package netio

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Many requests in flight on one connection, answered out of order by
// goroutines with random delays: the responses arrive in request order, each
// with its own body.
func TestPipelinedResponsesInRequestOrder(t *testing.T) {
	h := &memoryHandler{maxDelay: 3 * time.Millisecond}
	s := startServer(t, Config{MaxInFlightRequests: 64}, h)
	c := dialRaw(t, s.Addr(), "pipeliner")
	const requests = 500
	go func() {
		for i := int32(1); i <= requests; i++ {
			c.send(metadataRequest(int16(i%13), fmt.Sprintf("topic-%d", i)), i)
		}
	}()
	for i := int32(1); i <= requests; i++ {
		req := metadataRequest(int16(i%13), "")
		resp := c.readResponse(req, i).(*kmsg.MetadataResponse)
		want := fmt.Sprintf("topic-%d", i)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != want {
			t.Fatalf("response %d is not for %s: %+v", i, want, resp.Topics)
		}
	}
}

// Produce with acks=0 gets no response, and the responses around it keep
// their order.
func TestNilResponsesKeepOrder(t *testing.T) {
	h := &memoryHandler{maxDelay: 2 * time.Millisecond}
	s := startServer(t, Config{}, h)
	c := dialRaw(t, s.Addr(), "acks0")
	const requests = 300
	go func() {
		for i := int32(1); i <= requests; i++ {
			if i%3 == 0 {
				c.send(produceRequest(9, 0, "t"), i)
			} else {
				c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
			}
		}
		c.send(produceRequest(9, 1, "t"), requests+1) // acks=1: answered
	}()
	for i := int32(1); i <= requests; i++ {
		if i%3 == 0 {
			continue
		}
		resp := c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse)
		if want := fmt.Sprintf("topic-%d", i); *resp.Topics[0].Topic != want {
			t.Fatalf("response %d is for %s", i, *resp.Topics[0].Topic)
		}
	}
	resp := c.readResponse(produceRequest(9, 1, "t"), requests+1).(*kmsg.ProduceResponse)
	if got := resp.Topics[0].Partitions[0].BaseOffset; got != requests/3 {
		t.Fatalf("base offset after %d acks=0 batches: %d", requests/3, got)
	}
}

// produceRequest is a Produce of one record to partition 0 of topic.
func produceRequest(version, acks int16, topic string) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// oneRecordBatch is an uncompressed RecordBatch v2 holding one record.
func oneRecordBatch() []byte {
	rec := kmsg.NewRecord()
	rec.Value = []byte("value")
	raw := rec.AppendTo(nil)
	rec.Length = int32(len(raw) - 1)
	raw = rec.AppendTo(nil)
	batch := kmsg.NewRecordBatch()
	batch.Magic = 2
	batch.NumRecords = 1
	batch.Records = raw
	b := batch.AppendTo(nil)
	batch.Length = int32(len(b) - 12)
	return batch.AppendTo(nil)
}

// heldRequests is a handler that keeps every request until the test answers
// it, recording the most requests it held at once.
type heldRequests struct {
	mu             sync.Mutex
	held           []heldRequest
	received       int
	maxOutstanding int
	cancelled      int
	// autoAnswer: answer new requests at once instead of holding them.
	autoAnswer bool
}

type heldRequest struct {
	req     *Request
	respond func(kmsg.Response)
}

func (h *heldRequests) Handle(req *Request, respond func(kmsg.Response)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.autoAnswer {
		h.received++
		answerDefault(heldRequest{req, respond})
		return
	}
	h.held = append(h.held, heldRequest{req, respond})
	h.received++
	h.maxOutstanding = max(h.maxOutstanding, len(h.held))
	go func() {
		<-req.Context().Done()
		h.mu.Lock()
		h.cancelled++
		h.mu.Unlock()
	}()
}

func (h *heldRequests) count() (held, received int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held), h.received
}

// answerAll answers every held request and, from now on, new ones at once.
func (h *heldRequests) answerAll() {
	h.mu.Lock()
	held := h.held
	h.held = nil
	h.autoAnswer = true
	h.mu.Unlock()
	for _, r := range held {
		answerDefault(r)
	}
}

// answerOldest answers the oldest held request with its default response.
func (h *heldRequests) answerOldest() {
	h.mu.Lock()
	r := h.held[0]
	h.held = h.held[1:]
	h.mu.Unlock()
	answerDefault(r)
}

func answerDefault(r heldRequest) {
	resp := r.req.Body.ResponseKind()
	if m, ok := resp.(*kmsg.MetadataResponse); ok {
		if req := r.req.Body.(*kmsg.MetadataRequest); len(req.Topics) > 0 {
			topic := kmsg.NewMetadataResponseTopic()
			topic.Topic = req.Topics[0].Topic
			m.Topics = append(m.Topics, topic)
		}
	}
	r.respond(resp)
}

// When MaxInFlightRequests are unanswered the connection stops reading: the
// handler never holds more, and nothing is dropped.
func TestInFlightBoundIsBackpressure(t *testing.T) {
	const maxInFlight, requests = 4, 40
	h := &heldRequests{}
	s := startServer(t, Config{MaxInFlightRequests: maxInFlight}, h)
	c := dialRaw(t, s.Addr(), "flood")
	go func() {
		for i := int32(1); i <= requests; i++ {
			c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
		}
	}()
	for answered := 0; answered < requests; answered++ {
		waitFor(t, "a full window or the last requests", 10*time.Second, func() bool {
			held, received := h.count()
			return held == maxInFlight || (received == requests && held > 0)
		})
		h.answerOldest()
	}
	for i := int32(1); i <= requests; i++ {
		resp := c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse)
		if want := fmt.Sprintf("topic-%d", i); *resp.Topics[0].Topic != want {
			t.Fatalf("response %d is for %s", i, *resp.Topics[0].Topic)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxOutstanding != maxInFlight {
		t.Fatalf("handler held %d requests at once, want exactly %d", h.maxOutstanding, maxInFlight)
	}
}

// respond twice, or with the wrong response type, is a bug and panics; respond
// after the connection closed is harmless.
func TestRespondMisuse(t *testing.T) {
	h := &heldRequests{}
	s := startServer(t, Config{}, h)
	c := dialRaw(t, s.Addr(), "misuse")
	c.send(metadataRequest(12, "a"), 1)
	waitFor(t, "the request", 5*time.Second, func() bool { held, _ := h.count(); return held == 1 })
	r := h.held[0]
	mustPanic(t, "wrong kind", func() { r.respond(kmsg.NewPtrProduceResponse()) })
	answerDefault(r)
	mustPanic(t, "second respond", func() { answerDefault(r) })
	c.readResponse(metadataRequest(12, ""), 1)
	c.send(metadataRequest(12, "b"), 2)
	waitFor(t, "the second request", 5*time.Second, func() bool { _, received := h.count(); return received == 2 })
	_ = c.conn.Close()
	waitFor(t, "the connection to close", 5*time.Second, func() bool { return s.OpenConnections() == 0 })
	h.mu.Lock()
	last := h.held[len(h.held)-1]
	h.mu.Unlock()
	answerDefault(last) // after close: ignored,
	answerDefault(last) // even twice
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: no panic", what)
		}
	}()
	f()
}

package netio

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Answers to the one request in flight given while the writer goroutine
// waits are written inline by the goroutine that answers; pipelined
// answers keep their order, whoever writes them; with inline writes off, the writer goroutine writes them all.
func TestAnswersWrittenInline(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
				h := &memoryHandler{maxDelay: delay}
				s := startServer(t, Config{MaxInFlightRequests: 16, noInlineWrites: !inline}, h)
				c := dialRaw(t, s.Addr(), "inline")
				// One at a time (the answers go inline), then pipelined
				// (those in a burst go to the writer goroutine).
				const oneByOne, requests = 50, 300
				for i := int32(1); i <= oneByOne; i++ {
					resp := c.roundTrip(metadataRequest(int16(i%13), fmt.Sprintf("topic-%d", i)), i).(*kmsg.MetadataResponse)
					if want := fmt.Sprintf("topic-%d", i); len(resp.Topics) != 1 || *resp.Topics[0].Topic != want {
						t.Fatalf("delay %v: response %d is not for %s: %+v", delay, i, want, resp.Topics)
					}
				}
				go func() {
					for i := int32(oneByOne + 1); i <= requests; i++ {
						c.send(metadataRequest(int16(i%13), fmt.Sprintf("topic-%d", i)), i)
					}
				}()
				for i := int32(oneByOne + 1); i <= requests; i++ {
					resp := c.readResponse(metadataRequest(int16(i%13), ""), i).(*kmsg.MetadataResponse)
					if want := fmt.Sprintf("topic-%d", i); len(resp.Topics) != 1 || *resp.Topics[0].Topic != want {
						t.Fatalf("delay %v: response %d is not for %s: %+v", delay, i, want, resp.Topics)
					}
				}
				got := s.inlineWritten.Load()
				if inline && got == 0 {
					t.Fatalf("delay %v: no answer was written inline", delay)
				}
				if !inline && got != 0 {
					t.Fatalf("delay %v: %d answers written inline with inline writes off", delay, got)
				}
			}
		})
	}
}

// bigMetadataHandler answers every Metadata at once with topics whose names
// fill about 250 KiB, named after the request's topic.
type bigMetadataHandler struct{}

func (bigMetadataHandler) Handle(req *Request, respond func(kmsg.Response)) {
	body := req.Body.(*kmsg.MetadataRequest)
	resp := body.ResponseKind().(*kmsg.MetadataResponse)
	name := *body.Topics[0].Topic
	for i := range 1000 {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(fmt.Sprintf("%s-%04d-%s", name, i, strings.Repeat("x", 240)))
		resp.Topics = append(resp.Topics, topic)
	}
	respond(resp)
}

// An answer larger than the socket takes at once is written inline as far
// as it goes; the writer goroutine writes the rest, and the answers after
// it follow in order, whole.
func TestInlineWriteHandsTheRestToTheWriter(t *testing.T) {
	s := startServer(t, Config{MaxInFlightRequests: 8, SendBufferBytes: 8 << 10}, bigMetadataHandler{})
	c := dialRaw(t, s.Addr(), "slow-reader")
	const requests = 4
	for i := int32(1); i <= requests; i++ {
		c.send(metadataRequest(12, fmt.Sprintf("t%d", i)), i)
	}
	for i := int32(1); i <= requests; i++ {
		resp := c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1000 {
			t.Fatalf("response %d: %d topics", i, len(resp.Topics))
		}
		for j, topic := range resp.Topics {
			if want := fmt.Sprintf("t%d-%04d-", i, j); !strings.HasPrefix(*topic.Topic, want) {
				t.Fatalf("response %d topic %d is %.20s, want %s...", i, j, *topic.Topic, want)
			}
		}
	}
	if s.inlineWritten.Load() == 0 || s.inlineHandedOn.Load() == 0 {
		t.Fatalf("inline writes %d, handed on to the writer %d: want both", s.inlineWritten.Load(), s.inlineHandedOn.Load())
	}
}

// memoryPartsHandler answers every Metadata with an EncodedResponse whose
// body lies in three parts: the encoded response's first bytes, a From part
// holding the middle in chunks (in memory or not, as inMemory says), and
// the rest. The response names topics topicsEach times after the request's
// topic, each padded to about 250 bytes.
type memoryPartsHandler struct {
	inMemory   bool
	topicsEach int
	released   atomic.Int64
}

func (h *memoryPartsHandler) Handle(req *Request, respond func(kmsg.Response)) {
	body := req.Body.(*kmsg.MetadataRequest)
	resp := body.ResponseKind().(*kmsg.MetadataResponse)
	name := *body.Topics[0].Topic
	for i := range h.topicsEach {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(fmt.Sprintf("%s-%04d-%s", name, i, strings.Repeat("x", 240)))
		resp.Topics = append(resp.Topics, topic)
	}
	b := resp.AppendTo(nil)
	third := len(b) / 3
	part := &bufferedPart{chunks: [][]byte{b[third : 2*third-7], b[2*third-7 : 2*third]}, inMemory: h.inMemory}
	respond(&EncodedResponse{Response: resp, Release: func() { h.released.Add(1) }, Parts: []EncodedPart{
		{Bytes: b[:third]}, {From: part, FromBytes: part.len()}, {Bytes: b[2*third:]},
	}})
}

// An answer whose body lies in memory, in parts (a follower's Fetch
// answered from the records a Produce brought), is written inline with one
// writev by the goroutine that answers the one request in flight; one
// whose parts are not all in memory goes to the writer goroutine, as do
// answers to pipelined requests. Each arrives whole and in order, and each
// is released once.
func TestMemoryPartsWrittenInline(t *testing.T) {
	for _, inMemory := range []bool{true, false} {
		t.Run(fmt.Sprintf("inMemory=%v", inMemory), func(t *testing.T) {
			h := &memoryPartsHandler{inMemory: inMemory, topicsEach: 40}
			s := startServer(t, Config{MaxInFlightRequests: 16}, h)
			c := dialRaw(t, s.Addr(), "follower")
			const oneByOne, requests = 30, 100
			check := func(i int32, resp *kmsg.MetadataResponse) {
				t.Helper()
				if len(resp.Topics) != h.topicsEach {
					t.Fatalf("response %d: %d topics, want %d", i, len(resp.Topics), h.topicsEach)
				}
				for j, topic := range resp.Topics {
					if want := fmt.Sprintf("topic-%d-%04d-", i, j); !strings.HasPrefix(*topic.Topic, want) {
						t.Fatalf("response %d topic %d is %.20s, want %s...", i, j, *topic.Topic, want)
					}
				}
			}
			for i := int32(1); i <= oneByOne; i++ {
				check(i, c.roundTrip(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i).(*kmsg.MetadataResponse))
			}
			go func() {
				for i := int32(oneByOne + 1); i <= requests; i++ {
					c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
				}
			}()
			for i := int32(oneByOne + 1); i <= requests; i++ {
				check(i, c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse))
			}
			waitFor(t, "every answer released", 10*time.Second, func() bool { return h.released.Load() == requests })
			got := s.inlineWritten.Load()
			if inMemory && got < oneByOne {
				t.Fatalf("%d answers written inline, want at least the %d sent one by one", got, oneByOne)
			}
			if !inMemory && got != 0 {
				t.Fatalf("%d answers with a part not in memory written inline", got)
			}
		})
	}
}

// An answer in memory larger than the socket takes at once is written
// inline as far as it goes; the rest goes to the writer goroutine, and
// the answers after it follow in order, whole.
func TestMemoryPartsInlineHandTheRestToTheWriter(t *testing.T) {
	h := &memoryPartsHandler{inMemory: true, topicsEach: 1000}
	s := startServer(t, Config{MaxInFlightRequests: 8, SendBufferBytes: 8 << 10}, h)
	c := dialRaw(t, s.Addr(), "slow-follower")
	const rounds = 3
	for r := range int32(rounds) {
		// The first of each round's answers is the only one in flight
		// when it is given (the handler answers at once), so it goes
		// inline; the others queue behind it.
		for i := r*4 + 1; i <= r*4+4; i++ {
			c.send(metadataRequest(12, fmt.Sprintf("topic-%d", i)), i)
		}
		for i := r*4 + 1; i <= r*4+4; i++ {
			resp := c.readResponse(metadataRequest(12, ""), i).(*kmsg.MetadataResponse)
			if len(resp.Topics) != h.topicsEach {
				t.Fatalf("response %d: %d topics", i, len(resp.Topics))
			}
			for j, topic := range resp.Topics {
				if want := fmt.Sprintf("topic-%d-%04d-", i, j); !strings.HasPrefix(*topic.Topic, want) {
					t.Fatalf("response %d topic %d is %.20s, want %s...", i, j, *topic.Topic, want)
				}
			}
		}
	}
	waitFor(t, "every answer released", 10*time.Second, func() bool { return h.released.Load() == rounds*4 })
	if s.inlineWritten.Load() == 0 || s.inlineHandedOn.Load() == 0 {
		t.Fatalf("inline writes %d, handed on to the writer %d: want both", s.inlineWritten.Load(), s.inlineHandedOn.Load())
	}
}
